# Sourced by scripts/bench: the components' sizes and start-up times (issue 10, item 7).
# Sizes of the .wasm files spin.toml serves (its `source` paths), beside the same
# components built with the other cargo profiles compared (`release`, and `wasm` where
# Cargo.toml defines it); start-up: from starting the server to its first answered
# request, for real Spin (wasmtime cache disabled, and warm) and the local runtime.

# manifest_sources MANIFEST: one `<component id> <source path>` line per component.
manifest_sources() {
    awk '
        /^[ \t]*\[/ {
            table = $0
            sub(/^[ \t]*\[+[ \t]*/, "", table); sub(/[ \t]*\]+[ \t]*(#.*)?$/, "", table)
            next
        }
        table ~ /^component\.[A-Za-z0-9_-]+$/ && /^[ \t]*source[ \t]*=[ \t]*"/ {
            src = $0; sub(/^[^"]*"/, "", src); sub(/".*$/, "", src)
            print substr(table, length("component.") + 1), src
        }
    ' "$1"
}

# The cargo profile spin.toml's sources are built with: target/wasm32-wasip2/<profile>/x.wasm.
served_wasm_profile() { scripts/lib/wasm-profile.sh; }

# The profiles compared: the served one, release, and wasm if Cargo.toml defines it.
compared_wasm_profiles() {
    {
        served_wasm_profile
        echo release
        if grep -q '^\[profile\.wasm\]' Cargo.toml; then echo wasm; fi
    } | awk '!seen[$0]++'
}

# manifest_for PROFILE: spin.toml itself for the served profile, else a copy in $work whose
# sources point (absolute paths) at PROFILE's files.
manifest_for() {
    local profile=$1 served
    served=$(served_wasm_profile)
    if [[ "$profile" == "$served" ]]; then echo spin.toml; return; fi
    sed "s#\"target/wasm32-wasip2/$served/#\"$PWD/target/wasm32-wasip2/$profile/#" spin.toml \
        >"$work/spin-$profile.toml"
    echo "$work/spin-$profile.toml"
}

# kb BYTES: "470778 (471 KB)", or "–" for no file.
kb() { if [[ -n "$1" ]]; then awk -v b="$1" 'BEGIN { printf "%d (%.0f KB)", b, b / 1000 }'; else echo "–"; fi; }

# median of the numbers on stdin
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }

# startup_ms KIND PROFILE REPS: sets startup_result to the median, over REPS starts, of
# the milliseconds from starting the server to its first answer (empty if one failed).
# KIND: spin-cold, spin-warm, host. (Not run in a $(...) subshell: the servers it starts
# must stay known to scripts/bench's EXIT trap.)
startup_ms() {
    local kind=$1 profile=$2 reps=$3 manifest i times=()
    startup_result=""
    manifest=$(manifest_for "$profile")
    if [[ "$kind" == spin-warm ]]; then  # one start to fill the wasmtime cache
        serve_spin "startup-$kind-$profile-prime" "$manifest" || return 0
        stop_pid "$served_pid"
    fi
    for i in $(seq "$reps"); do
        case "$kind" in
            spin-cold) serve_spin "startup-$kind-$profile-$i" "$manifest" --disable-cache || return 0 ;;
            spin-warm) serve_spin "startup-$kind-$profile-$i" "$manifest" || return 0 ;;
            host) serve_host "startup-$kind-$profile-$i" "$manifest" || return 0 ;;
        esac
        times+=("$served_ms")
        stop_pid "$served_pid"
    done
    startup_result=$(printf '%s\n' "${times[@]}" | median)
}

components_report() {
    local reps=$1 profiles served p id src size kind row
    read -ra profiles <<<"$(compared_wasm_profiles | tr '\n' ' ')"
    served=$(served_wasm_profile)
    for p in "${profiles[@]}"; do
        if [[ "$p" != "$served" ]]; then
            echo "    building the components with cargo profile \`$p\` to compare"
            cargo build --quiet --target wasm32-wasip2 --profile "$p" "${components[@]}"
        fi
    done
    {
        echo "# Components: sizes and start-up"
        echo
        echo "$(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Cargo.toml spin.toml shared functions || echo ' (with uncommitted changes)'). spin.toml serves the files built with"
        echo "cargo profile \`$served\`; the other columns are the same components built with the other"
        echo "profile(s) Cargo.toml defines, for comparison."
        echo
        printf '| component (spin.toml source) |'; for p in "${profiles[@]}"; do printf ' `%s` |' "$p"; done; echo
        printf '|---|'; for p in "${profiles[@]}"; do printf -- '---:|'; done; echo
        declare -A total=()
        while read -r id src; do
            printf '| %s (`%s`) |' "$id" "$src"
            for p in "${profiles[@]}"; do
                size=$(stat -c %s "$(sed "s#/$served/#/$p/#" <<<"$src")" 2>/dev/null || echo "")
                total[$p]=$(( ${total[$p]:-0} + ${size:-0} ))
                printf ' %s |' "$(kb "$size")"
            done
            echo
        done < <(manifest_sources spin.toml)
        printf '| all five |'
        for p in "${profiles[@]}"; do printf ' %s |' "$(kb "${total[$p]}")"; done
        echo
        echo
        echo "## Start-up: from starting the server to its first answered request"
        echo
        echo "Median of $reps start(s) each, on a fresh state directory; the first answer is a 404 from"
        echo "the catch-all route. Both servers compile every component with cranelift when they start,"
        echo "unless Spin's wasmtime cache already holds them (warm: after one start that filled it)."
        echo
        printf '| server |'; for p in "${profiles[@]}"; do printf ' `%s` |' "$p"; done; echo
        printf '|---|'; for p in "${profiles[@]}"; do printf -- '---:|'; done; echo
        for kind in spin-cold spin-warm host; do
            case "$kind" in
                spin-cold) [[ -n "$spin_bin" ]] || continue; row="spin up, wasmtime cache disabled" ;;
                spin-warm) [[ -n "$spin_bin" ]] || continue; row="spin up, wasmtime cache warm" ;;
                host) row="booking-host up (local runtime, no cache)" ;;
            esac
            printf '| %s |' "$row"
            for p in "${profiles[@]}"; do
                startup_ms "$kind" "$p" "$reps"
                printf ' %s |' "$(awk -v ms="$startup_result" 'BEGIN { if (ms == "") print "failed"; else printf "%.2f s", ms / 1000 }')"
            done
            echo
        done
        [[ -n "$spin_bin" ]] || { echo; echo "Real Spin: skipped (no Spin CLI)."; }
    } >"$out/components.md"
    sed 's/^/    /' "$out/components.md" | grep '^    |'
}
