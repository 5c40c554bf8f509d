# Sourced by scripts/bench: start and stop the servers the benchmark drives itself
# (real `spin up`, and `booking-host up` for the profile, the answer-cost runs and the
# start-up times), each on a fresh state directory under $work, with the bench's tokens.
# Every process started here is stopped by `stop_servers` (scripts/bench's EXIT trap).

# The Spin CLI, found as scripts/test finds it: $SPIN_BIN, else `spin` on PATH, else
# ../shared/tools/spin next to the repository. Prints its path, or nothing.
find_spin() {
    if [[ -n "${SPIN_BIN:-}" ]]; then
        command -v "$SPIN_BIN" || { echo "SPIN_BIN=$SPIN_BIN is not an executable" >&2; return 1; }
    elif command -v spin >/dev/null; then
        command -v spin
    elif [[ -x ../shared/tools/spin ]]; then
        echo "$(cd ../shared/tools && pwd)/spin"
    fi
}

bench_pids=()  # every server process started here and not yet stopped

# Stops one process started here: SIGTERM (`spin up` passes it on to its `spin trigger
# http` child), SIGKILL after 5 s; then forgets it.
stop_pid() {
    local pid=$1 kept=() p
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    for p in "${bench_pids[@]}"; do [[ "$p" == "$pid" ]] || kept+=("$p"); done
    bench_pids=("${kept[@]}")
}
stop_servers() {
    local pid
    for pid in "${bench_pids[@]}"; do stop_pid "$pid"; done
}

# True once something answers HTTP at $1 (a base URL).
answers() { curl -s -o /dev/null --max-time 10 "$1/bench-probe"; }

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# serve NAME COMMAND...: runs COMMAND in the background with the bench's tokens as Spin
# variables, stdout/stderr in $work/NAME.out/.err; waits (up to 5 minutes: a first start
# compiles the components) for its `Serving http://…` line and a first HTTP answer.
# Sets served_pid, served_url and served_ms (milliseconds from the start to the first
# answer). Returns non-zero (after printing the server's output) if it never answered.
serve() {
    local name=$1 start i
    shift
    start=$(now_ms)
    SPIN_VARIABLE_ADMIN_TOKEN=$token SPIN_VARIABLE_CONFIRM_TOKEN=$confirm_token \
        "$@" </dev/null >"$work/$name.out" 2>"$work/$name.err" &
    served_pid=$!
    bench_pids+=("$served_pid")
    served_url=""
    for i in $(seq 15000); do  # polled every 20 ms
        if ! kill -0 "$served_pid" 2>/dev/null; then break; fi
        if [[ -z "$served_url" ]]; then
            served_url=$(sed -n 's/^Serving \(http:[^ ]*\).*/\1/p' "$work/$name.out" | head -n 1)
        fi
        if [[ -n "$served_url" ]] && answers "$served_url"; then
            served_ms=$(($(now_ms) - start))
            return 0
        fi
        sleep 0.02
    done
    echo "$name did not answer ($*):" >&2
    tail -n 20 "$work/$name.out" "$work/$name.err" >&2
    stop_pid "$served_pid"
    return 1
}

# serve_spin NAME [MANIFEST [spin up options]]: real Spin on a fresh state directory
# (Spin's default SQLite store), on a free port.
serve_spin() {
    local name=$1 manifest=${2:-spin.toml}
    shift; shift || true
    mkdir -p "$work/$name.state"
    serve "$name" "$spin_bin" up --from "$manifest" --listen 127.0.0.1:0 \
        --state-dir "$work/$name.state" "$@"
}

# serve_host NAME [MANIFEST [booking-host up options]]: the local runtime on a fresh state
# directory (Spin's SQLite settings), on a free port.
serve_host() {
    local name=$1 manifest=${2:-spin.toml}
    shift; shift || true
    mkdir -p "$work/$name.state"
    serve "$name" target/release/booking-host up --from "$manifest" --listen 127.0.0.1:0 \
        --state-dir "$work/$name.state" "$@"
}

# kv_calls_line NAME: the `kv-calls: gets=… swaps_ok=… … writes=…` line that booking-host
# printed on stderr as it stopped (it does however it stops: SIGTERM from stop_pid, SIGINT,
# its stdin closing), for a server started by `serve` as NAME; nothing if there is none
# (real Spin counts nothing).
kv_calls_line() { grep '^kv-calls:' "$work/$1.err" 2>/dev/null | tail -n 1 || true; }

# keep_kv_calls NAME LABEL: once the server NAME stopped, keeps its kv-calls line as
# $out/LABEL.kv-calls.txt beside the run's JSON, where writes.sh finds it (for the runtimes
# booking-load starts itself, the line is in the JSON: figures.kv_calls.runtime_exit).
keep_kv_calls() {
    local line
    line=$(kv_calls_line "$1")
    rm -f "$out/$2.kv-calls.txt"
    if [[ -n "$line" ]]; then echo "$line" >"$out/$2.kv-calls.txt"; fi
}

# The pids of $1's children (`spin up` serves from a `spin trigger http` child).
children() { ps -o pid= --ppid "$1" | tr -d ' '; }
