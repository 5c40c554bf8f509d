# Sourced by scripts/bench: a CPU profile of the local runtime (booking-host) serving the
# flash sale, with perf (Debian's linux-perf), and a flame graph drawn by inferno.
#
# perf starts booking-host itself (attaching with -p records nothing on these machines)
# with its events disabled (-D -1) and is told over a control FIFO to sample only while
# the load runs, so compiling the components at start-up stays out of the profile.
# cpu-clock (no hardware events here), 499 Hz, DWARF call graphs (Rust code has no
# frame pointers, so -g's frame-pointer stacks stop after a frame or two).
#
# Writes $out/flamegraph-flash-sale.svg and $out/profile.md. Where perf cannot sample,
# profile.md says so with perf's output, and a short run under valgrind's callgrind
# stands in if valgrind is there.

profile_hz=499

# inferno-collapse-perf and inferno-flamegraph: on PATH, else installed once from
# crates.io into target/bench-tools (kept between runs, like the build).
ensure_inferno() {
    if command -v inferno-flamegraph >/dev/null && command -v inferno-collapse-perf >/dev/null; then
        inferno_bin=$(dirname "$(command -v inferno-flamegraph)")
        return 0
    fi
    inferno_bin=$PWD/target/bench-tools/bin
    if [[ ! -x "$inferno_bin/inferno-flamegraph" ]]; then
        echo "    installing inferno (crates.io) into target/bench-tools"
        cargo install --locked --quiet --root target/bench-tools inferno
    fi
}

# Stack → group, leaf first: the first frame (from the leaf towards the root) that matches
# one of these decides. Guest (wasm) frames have no names: the JIT code shows as
# `[perf-<pid>.map]`/`[JIT]`/`[unknown]` and stands for all the components' own work
# (routing, JSON, the booking core).
profile_groups_awk='
function group(stack,    n, f, i, fr) {
    n = split(stack, f, ";")
    for (i = n; i >= 1; i--) {
        fr = f[i]
        if (fr ~ /cranelift|regalloc2|wasmtime_internal_cranelift/) return "compiling wasm (start-up)"
        if (fr ~ /sqlite3|rusqlite/) return "key-value: SQLite"
        if (fr ~ /fdatasync|fsync|ext4_|jbd2|blk_|submit_bio|virtio|iowrite|vring/) return "key-value: SQLite"
        if (fr ~ /keyvalue|booking_host::kv/) return "key-value: host side of the calls"
        if (fr ~ /serde_json|serde::|serde_core|_serde::/) return "JSON (serde, in the guest or the host)"
        if (fr ~ /booking_core/) return "guest: the booking core (besides JSON)"
        if (fr ~ /spin_adapter|spin_sdk|wit_bindgen|wasip2::|wasi::/) return "guest: the adapter and bindings"
        if (fr ~ /dlmalloc|__rust_alloc|__rust_dealloc|__rust_realloc|memcpy|memmove|memset/ && stack ~ /wasm\[|function\[/) return "guest: allocator and memory copies"
        if (fr ~ /instantiat|InstancePre|PoolingInstanceAllocator|MemoryImageSlot|pagemap|allocate_module|deallocate|StoreOpaque::new|Store<.*>::new|drop_in_place<wasmtime::runtime::store|instance::allocator/) return "wasmtime instantiation and teardown"
        if (fr ~ /^\[perf-|^\[JIT\]|^\[unknown\]|^0x|^wasm\[|function\[/) {
            if (i < n && f[n] ~ /exc_page_fault|clear_page|do_anonymous_page|handle_mm_fault/) return "wasmtime instantiation and teardown"
            return "guest wasm code (other: std, core library, unnamed)"
        }
        if (fr ~ /exc_page_fault|handle_mm_fault|do_anonymous_page|clear_page/) return "page faults (other)"
        if (fr ~ /futex|__schedule|schedule$|finish_task_switch|epoll_wait|ep_poll|parking_lot|Condvar|pthread_cond|pthread_mutex|lll_lock|nanosleep|park_timeout|::park/) return "waiting and thread hand-offs (futex, scheduler)"
        if (fr ~ /hyper|http_body|wasmtime_wasi_http|tcp_|inet_|sock_|__sys_send|__sys_recv|ip_finish|ip_rcv|net_rx|loopback|__netif|skb/) return "HTTP and loopback TCP"
        if (fr ~ /wasmtime/) return "wasmtime calls (component-model lifting and lowering, WASI)"
    }
    return "other (tokio, allocator, kernel entry, unattributed)"
}
'

# profile_flash_sale BUYERS CONCURRENCY
profile_flash_sale() {
    local buyers=$1 conc=$2 pdir="$work/profile" perf_pid host_pid start_ms wall_ms ctl ack a
    mkdir -p "$pdir"
    ensure_inferno
    # The same components with their names section kept (profile wasm-names), served
    # from a copy of spin.toml, and wasmtime's perf map on: perf then names the guest's
    # functions (JSON, the core, the adapter) instead of one block of JIT code.
    local components
    components=$(scripts/lib/components.sh)
    # shellcheck disable=SC2086 # one word per component flag
    cargo build --quiet --profile wasm-names --target wasm32-wasip2 $components
    sed "s|target/wasm32-wasip2/wasm/|$PWD/target/wasm32-wasip2/wasm-names/|" spin.toml >"$pdir/spin.toml"
    mkfifo "$pdir/ctl" "$pdir/ack"
    exec {ctl}<>"$pdir/ctl" {ack}<>"$pdir/ack"
    if ! BOOKING_HOST_PERF_MAP=1 serve profile-host perf record -e cpu-clock -F "$profile_hz" --call-graph dwarf -D -1 \
        --control "fd:$ctl,$ack" -o "$pdir/perf.data" -- \
        target/release/booking-host up --from "$pdir/spin.toml" --listen 127.0.0.1:0 \
        --state-dir "$work/profile-host.state" --kv-calls-endpoint; then
        exec {ctl}>&- {ack}>&-
        profile_unsupported "perf record -e cpu-clock -F $profile_hz --call-graph dwarf -- booking-host up"
        return 0
    fi
    perf_pid=$served_pid
    host_pid=$(children "$perf_pid" | head -n 1)
    echo enable >&"$ctl"; read -r -t 10 -u "$ack" a || true
    start_ms=$(now_ms)
    run_ext flash-sale --buyers "$buyers" --concurrency "$conc" --base-url "$served_url" \
        --rss-pid "$host_pid" --kv-calls --label ours-flash-sale-profiled --out-dir "$out" || true
    wall_ms=$(($(now_ms) - start_ms))
    echo disable >&"$ctl"; read -r -t 10 -u "$ack" a || true
    exec {ctl}>&- {ack}>&-
    # SIGINT to the runtime: it exits, and perf writes its file and exits with it.
    kill -INT "$host_pid" 2>/dev/null || true
    for _ in $(seq 300); do kill -0 "$perf_pid" 2>/dev/null || break; sleep 0.1; done
    stop_pid "$perf_pid"
    # The runtime's key-value calls (its last stderr line, with perf's output in the file).
    keep_kv_calls profile-host ours-flash-sale-profiled
    if [[ ! -s "$pdir/perf.data" ]] || ! perf report -i "$pdir/perf.data" --stdio >/dev/null 2>&1; then
        profile_unsupported "perf record -e cpu-clock -F $profile_hz --call-graph dwarf -- booking-host up"
        return 0
    fi

    # --no-inline: resolving inlined frames runs addr2line per address (minutes).
    perf script --no-inline -i "$pdir/perf.data" 2>/dev/null |
        "$inferno_bin/inferno-collapse-perf" >"$pdir/folded.txt"
    "$inferno_bin/inferno-flamegraph" --title "booking-host (local runtime), flash sale: $buyers buyers, $conc concurrent; cpu-clock $profile_hz Hz" \
        --countname ns <"$pdir/folded.txt" >"$out/flamegraph-flash-sale.svg"
    profile_report "$buyers" "$conc" "$wall_ms" >"$out/profile.md"
    echo "    $out/flamegraph-flash-sale.svg, $out/profile.md"
    sed -n '/^| group/,/^$/p' "$out/profile.md" | sed 's/^/    /'
}

# profile.md from $work/profile/{perf.data,folded.txt}.
profile_report() {
    local buyers=$1 conc=$2 wall_ms=$3 pdir="$work/profile" cpu_ns requests
    cpu_ns=$(awk '{ n += $NF } END { printf "%d", n }' "$pdir/folded.txt")
    requests=$(grep -o '"requests": *[0-9]*' "$out/ours-flash-sale-profiled.json" 2>/dev/null |
        head -n 1 | grep -o '[0-9]*$' || true)
    echo "# Where the local runtime's CPU time goes: flash sale"
    echo
    echo "$(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD). booking-host (the local"
    echo "runtime, Spin's SQLite settings) serving the flash sale ($buyers buyers, $conc concurrent;"
    echo "run \`ours-flash-sale-profiled\`, whose figures include perf's overhead), sampled with"
    echo "\`perf record -e cpu-clock -F $profile_hz --call-graph dwarf\` only while the load ran"
    echo "(start-up compilation excluded). Flame graph: \`flamegraph-flash-sale.svg\`."
    echo
    awk -v ns="$cpu_ns" -v wall="$wall_ms" -v req="${requests:-0}" -v cores="$(nproc)" 'BEGIN {
        printf "CPU time sampled in the runtime: %.2f s over %.2f s of load (%.2f of %d cores busy on average;", ns / 1e9, wall / 1000, ns / 1e6 / wall, cores
        printf " the rest of the time it waited: off-CPU waits, such as fsync, are not samples).\n"
        if (req > 0) printf "Answered requests: %d, so %.0f µs of runtime CPU per request.\n", req, ns / 1e3 / req
    }'
    echo
    echo "## Top costs, grouped by call stack"
    echo
    echo "Each sample goes to the group of the frame nearest the leaf that names one (for example"
    echo "a \`memset\` under wasmtime's pooling allocator counts as instantiation; a \`malloc\` under"
    echo "serde_json as JSON). Guest (wasm) frames are named: the profiled runtime serves the"
    echo "components built with their names section (profile \`wasm-names\`, otherwise the same"
    echo "code) and writes wasmtime's perf map (\`BOOKING_HOST_PERF_MAP=1\`)."
    echo
    echo "| group | share of CPU samples | CPU ms |"
    echo "|---|---:|---:|"
    awk "$profile_groups_awk"'
        { c = $NF; s = $0; sub(/ [0-9]+$/, "", s); g = group(s); t[g] += c; all += c }
        END { for (g in t) printf "%.1f\t%s\t%.0f\n", 100 * t[g] / all, g, t[g] / 1e6 }
    ' "$pdir/folded.txt" | sort -t$'\t' -k1,1 -rn | awk -F'\t' '{ printf "| %s | %s %% | %s |\n", $2, $1, $3 }'
    echo
    echo "## Top symbols (self time: \`perf report --no-children --sort dso,sym\`)"
    echo
    echo '```'
    perf report -i "$pdir/perf.data" --no-inline --no-children --sort dso,sym --stdio -g none \
        --percent-limit 0.5 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 40
    echo '```'
    echo
    echo "## By object (\`--sort dso\`)"
    echo
    echo '```'
    perf report -i "$pdir/perf.data" --no-inline --no-children --sort dso --stdio -g none \
        2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 12
    echo '```'
}

# perf could not sample: say so in profile.md, with its output, and try callgrind.
profile_unsupported() {
    local what=$1
    echo "    perf could not profile here: see $out/profile.md"
    {
        echo "# Profile: perf not usable on this machine"
        echo
        echo "\`$what\` failed ($(date -u +%Y-%m-%dT%H:%MZ)); its output:"
        echo
        echo '```'
        cat "$work/profile-host.err" 2>/dev/null | tail -n 30
        echo '```'
    } >"$out/profile.md"
    if command -v valgrind >/dev/null; then profile_callgrind; fi
}

# The fallback: a short flash sale under valgrind's callgrind (tens of times slower, so
# few buyers and long timeouts), with on-demand instance allocation (the pooling
# allocator's huge reservations upset valgrind). Instruction counts, not time; collection
# is switched on (callgrind_control) only once the runtime serves, so start-up
# compilation stays out. The run's checker verdict does not count: under valgrind the
# runtime is not itself (a trial here saw empty 500s).
profile_callgrind() {
    echo "    falling back to valgrind --tool=callgrind on a short run (200 buyers, 10 concurrent)"
    mkdir -p "$work/callgrind.state"
    if ! SPIN_WASMTIME_POOLING=0 serve callgrind valgrind --tool=callgrind --instr-atstart=no \
        --callgrind-out-file="$work/callgrind.profile" \
        target/release/booking-host up --from spin.toml --listen 127.0.0.1:0 \
        --state-dir "$work/callgrind.state"; then
        return 0
    fi
    local vg_pid=$served_pid
    callgrind_control -i on "$vg_pid" >/dev/null 2>&1 || true
    BOOKING_CONFIRM_TOKEN=$confirm_token "$load" flash-sale --buyers 200 --concurrency 10 \
        --base-url "$served_url" --admin-token "$token" "${confirm_args[@]}" \
        --request-timeout-seconds 60 --label ours-flash-sale-callgrind --out-dir "$work" \
        --no-progress >/dev/null 2>&1 || true
    stop_pid "$vg_pid"
    {
        echo
        echo "## Fallback: valgrind --tool=callgrind, 200 buyers, 10 concurrent"
        echo
        echo "Instructions executed while the load ran (not time; no off-CPU waiting)."
        echo
        echo '```'
        callgrind_annotate "$work/callgrind.profile" 2>/dev/null | sed -n '/PROGRAM TOTALS/,$p' | head -n 50
        echo '```'
    } >>"$out/profile.md"
}
