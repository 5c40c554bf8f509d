# Sourced by scripts/bench: store writes per sold unit, measured rather than derived.
#
# booking-host counts the key-value calls the components make and prints them as one line on
# stderr when it stops (SIGTERM, SIGINT, its stdin closing):
#   kv-calls: gets=… get_many=… get_many_keys=… cas_currents=… exists=… list_keys=… sets=…
#             set_many_keys=… swaps_ok=… swaps_conflict=… increments=… deletes=…
#             delete_many_keys=… errors=… reads=… writes=…            (one line)
# With --kv-calls-endpoint it also answers that line at /.well-known/booking-host/kv-calls
# while it serves. For the runtimes booking-load starts itself (the ours-… runs), booking-load
# keeps that exit line, and the counts it read just before and just after creating the
# run's events, in the run's JSON (figures.kv_calls: runtime_exit, before_setup,
# after_setup). For a runtime the bench starts (the profiled flash sale), the exit line is
# $out/<label>.kv-calls.txt (servers.sh: keep_kv_calls).
#
# For each run: writes = swaps_ok + swaps_conflict + sets + set_many_keys + increments +
# deletes + delete_many_keys, counted from the exit line, less those counted right after the
# events were created (so creating the events does not count; what the checker's reads at
# rest write does). Real Spin and the PostgreSQL peer cannot be counted this way.

# json_last FILE KEY: the last value of "KEY" in a pretty-printed JSON file (a string without
# its quotes, or a number); nothing if absent or null.
json_last() {
    sed -nE "s/^ *\"$2\": \"?([^\"]*)\"?,?\$/\1/p" "$1" | grep -v '^null$' | tail -n 1 || true
}

# writes_figures FILE LABEL: "sold confirmed writes conflicts creation_writes reads", or
# nothing when the run has no counts.
writes_figures() {
    local file=$1 label=$2 exit_line setup_line before_line
    exit_line=$(json_last "$file" runtime_exit)
    if [[ -z "$exit_line" && -f "$out/$label.kv-calls.txt" ]]; then
        exit_line=$(cat "$out/$label.kv-calls.txt")
    fi
    setup_line=$(json_last "$file" after_setup)
    before_line=$(json_last "$file" before_setup)
    [[ -n "$exit_line" && -n "$setup_line" && -n "$before_line" ]] || return 0
    awk -v exit_line="$exit_line" -v setup="$setup_line" -v before="$before_line" \
        -v sold="$(json_last "$file" sold)" -v confirmed="$(json_last "$file" "confirm 200")" '
        function field(line, name,    n, i, kv, parts) {
            n = split(line, parts, " ")
            for (i = 2; i <= n; i++) { split(parts[i], kv, "="); if (kv[1] == name) return kv[2] + 0 }
            return 0
        }
        function writes(line) {
            return field(line, "swaps_ok") + field(line, "swaps_conflict") + field(line, "sets") \
                + field(line, "set_many_keys") + field(line, "increments") + field(line, "deletes") \
                + field(line, "delete_many_keys")
        }
        function reads(line) {
            return field(line, "gets") + field(line, "get_many_keys") + field(line, "cas_currents") \
                + field(line, "exists") + field(line, "list_keys")
        }
        BEGIN {
            printf "%d %d %d %d %d %d\n", sold, confirmed, writes(exit_line) - writes(setup),
                field(exit_line, "swaps_conflict") - field(setup, "swaps_conflict"),
                writes(setup) - writes(before), reads(exit_line) - reads(setup)
        }'
}

# ratio A B: A / B with two decimals, or – when B is 0.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "–" }'; }

# not_counted LABEL WHY: a row without figures.
not_counted() { echo "| $1 | $2 |$(printf ' – |%.0s' 1 2 3 4 5 6 7 8)"; }

# writes_row LABEL FILE: one row of the table.
writes_row() {
    local label=$1 file=$2 figures sold confirmed writes conflicts creation reads ok
    case "$label" in
        spin-*) not_counted "$label" "real Spin: not counted (its key-value calls cannot be seen from outside)"; return ;;
        pg-*) not_counted "$label" "not counted (the PostgreSQL peer has no key-value store)"; return ;;
    esac
    figures=$(writes_figures "$file" "$label")
    if [[ -z "$figures" ]]; then
        not_counted "$label" "not counted (no kv-calls lines in the result: an older result, or the counts could not be read)"
        return
    fi
    read -r sold confirmed writes conflicts creation reads <<<"$figures"
    ok=$((writes - conflicts))
    echo "| $label | $sold | $confirmed | $writes | $(ratio "$writes" "$sold") | $(ratio "$ok" "$sold") |" \
        "$(ratio "$conflicts" "$ok") | $(ratio "$writes" "$confirmed") | $creation | $(ratio "$reads" "$sold") |"
}

# writes_headline FILE LABEL: the one-line figure the summary prints.
writes_headline() {
    local figures sold confirmed writes conflicts creation reads ok
    figures=$(writes_figures "$1" "$2")
    if [[ -z "$figures" ]]; then
        echo "Store writes per sold unit: not counted ($2 has no kv-calls lines); real Spin: not counted."
        return
    fi
    read -r sold confirmed writes conflicts creation reads <<<"$figures"
    ok=$((writes - conflicts))
    echo "Store writes per sold unit, measured ($2, booking-host's count): $(ratio "$writes" "$sold")" \
        "($(ratio "$ok" "$sold") successful; $(ratio "$conflicts" "$ok") conflicting swaps per successful write);" \
        "$(ratio "$writes" "$confirmed") per successful buyer (hold + confirm, every request counted);" \
        "real Spin: not counted."
}

# writes_report RUN_FILES...: writes.md. Run files are <label>.json; sweep files
# sweep/<rate>/<label>.json (one rate each, so one runtime each), shown by system, rate by rate.
writes_report() {
    local file label rate sweep_labels=()
    echo "# Store writes per sold unit (measured)"
    echo
    echo "booking-host counts every key-value call the components make (atomic counters per"
    echo "store) and prints them as one \`kv-calls: …\` line when it stops. A run's store writes"
    echo "are the write calls counted at the runtime's exit less those counted right after the"
    echo "run's events were created: \`swaps_ok + swaps_conflict + sets + set_many_keys +"
    echo "increments + deletes + delete_many_keys\`. Everything a run does counts: granted and"
    echo "refused holds, replays, confirms, releases, the live availability probe and the"
    echo "checker's reads at rest; creating the events does not (its own column). A conflicting"
    echo "swap is a write attempt the store ran and refused. Units sold are the store's \`sold\`"
    echo "at rest; confirmed holds are the confirms answered 200 (successful buyers). In the"
    echo "flash sale a buyer holds 1–4 units (with an Idempotency-Key), so writes per confirmed"
    echo "hold are writes per successful buyer (hold + confirm), amortised over every request of"
    echo "the run. Reads (\`gets + get_many_keys + cas_currents + exists + list_keys\`) are counted"
    echo "the same way and include the checker's reads at rest. Real Spin: not counted (its"
    echo "key-value calls cannot be seen from outside the process)."
    echo
    echo "| run | units sold | confirmed holds | store writes | writes per sold unit | successful writes per sold unit | conflicting swaps per successful write | writes per confirmed hold | event creation writes | reads per sold unit |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for file in "$@"; do
        label=$(basename "$file" .json)
        if [[ "$file" != */sweep/*/* ]]; then
            writes_row "$label" "$file"
        elif [[ " ${sweep_labels[*]} " != *" $label "* ]]; then
            sweep_labels+=("$label")
        fi
    done
    for label in "${sweep_labels[@]}"; do
        case "$label" in
            spin-* | pg-*) writes_row "$label (every rate)" ""; continue ;;
        esac
        printf '%s\n' "$@" | awk -F/ -v name="$label.json" \
            '$NF == name && $(NF - 2) == "sweep" { print $(NF - 1) "\t" $0 }' | sort -n |
            while IFS=$'\t' read -r rate file; do writes_row "$label@$rate" "$file"; done
    done
}
