#!/usr/bin/env bash
# scripts/lib/redis-run.sh NODES BOOKING-LOAD-ARGS...
# One booking-load run against the local runtime on the Redis store: starts NODES
# redis-servers on free loopback ports (appendonly yes, appendfsync always: a write is on
# disk before Redis answers; a fresh directory each), the runtime (target/release/
# booking-host) with redis_address listing them (events spread over them by a hash of the
# event id), runs target/release/booking-load with the given arguments plus --base-url,
# the tokens and --rss-pid for the runtime and every Redis; stops everything; exits with
# booking-load's status (its runtime's stderr is printed when it fails). Used by
# scripts/test's Redis leg (a seconds-long sale on three primaries) and scripts/bench.
# BOOKING_MANIFEST serves another manifest (scripts/bench: the ideal component's).
set -euo pipefail
cd "$(dirname "$0")/../.."

nodes=$1
shift
work=$(mktemp -d "${TMPDIR:-/tmp}/booking-redis-run.XXXXXX")
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_redis DIR: a redis-server on a free port (a port taken by anything else makes it
# exit at once: then another port); sets $port and appends to $pids.
start_redis() {
    local dir=$1 pid
    mkdir -p "$dir"
    for _ in $(seq 10); do
        port=$((20000 + RANDOM % 12000))  # below Linux's ephemeral ports (32768…)
        redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --appendonly yes \
            --appendfsync always --save "" >"$dir/redis.log" 2>&1 &
        pid=$!
        for _ in $(seq 100); do
            if redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && kill -0 "$pid" 2>/dev/null; then
                pids+=("$pid")
                return 0
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    echo "redis-run: no redis-server would start:" >&2
    cat "$dir/redis.log" >&2
    exit 1
}

urls=()
for i in $(seq "$nodes"); do
    start_redis "$work/redis-$i"
    urls+=("redis://127.0.0.1:$port")
done

token() { od -An -N12 -tx1 /dev/urandom | tr -d ' \n'; }
admin_token="redis-run-admin-$(token)"
confirm_token="redis-run-confirm-$(token)"
SPIN_VARIABLE_REDIS_ADDRESS=$(IFS=,; echo "${urls[*]}") \
SPIN_VARIABLE_REDIS_HOST='127.0.0.1:*' \
SPIN_VARIABLE_ADMIN_TOKEN=$admin_token SPIN_VARIABLE_CONFIRM_TOKEN=$confirm_token \
    target/release/booking-host up --from "${BOOKING_MANIFEST:-spin.toml}" --listen 127.0.0.1:0 --in-memory \
    </dev/null >"$work/host.out" 2>"$work/host.err" &
host_pid=$!
pids=("$host_pid" "${pids[@]}")
url=""
for _ in $(seq 600); do
    url=$(sed -n 's/^Serving \(http:[^ ]*\).*/\1/p' "$work/host.out" | head -n 1)
    [[ -n "$url" ]] && break
    kill -0 "$host_pid" 2>/dev/null || break
    sleep 0.1
done
if [[ -z "$url" ]]; then
    echo "redis-run: the local runtime did not start:" >&2
    cat "$work/host.err" >&2
    exit 1
fi

rss=()
for pid in "${pids[@]}"; do rss+=(--rss-pid "$pid"); done
status=0
target/release/booking-load "$@" --base-url "$url" --admin-token "$admin_token" \
    --confirm-token "$confirm_token" "${rss[@]}" || status=$?
if [[ "$status" != 0 ]]; then
    echo "redis-run: booking-load failed ($status); the runtime's stderr:" >&2
    tail -n 50 "$work/host.err" >&2
fi
exit "$status"
