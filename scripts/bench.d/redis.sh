# Sourced by scripts/bench: the flash sale on the local runtime with the Redis store
# (issue 11), on one Redis and on three primaries. redis-server comes from Debian's
# packages (installed when missing, as .ci/run does); each node runs on loopback with
# appendonly yes and appendfsync always (a write is on disk before Redis answers) and a
# fresh directory. The runtime reaches Redis through Spin's outbound Redis interface,
# selected by the redis_address variable; its key-value calls are not counted (the
# kv-calls line counts the default store only).

redis_pids=()
redis_urls=()

# redis_start NAME N: starts N redis-servers on free loopback ports.
redis_start() {
    local name=$1 count=$2 i port dir
    redis_pids=() redis_urls=()
    for i in $(seq "$count"); do
        dir="$work/$name-redis-$i"
        mkdir -p "$dir"
        for _ in $(seq 20); do
            port=$((20000 + RANDOM % 20000))
            redis-cli -p "$port" ping >/dev/null 2>&1 || break
        done
        redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --appendonly yes \
            --appendfsync always --save "" >"$dir/redis.log" 2>&1 &
        redis_pids+=("$!")
        redis_urls+=("redis://127.0.0.1:$port")
        for _ in $(seq 100); do
            redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break
            sleep 0.05
        done
    done
}

redis_stop() {
    local pid
    for pid in "${redis_pids[@]}"; do stop_pid "$pid"; done
    redis_pids=()
}

# redis_run LABEL NODES ARGS...: one booking-load run against the local runtime on NODES
# Redis primaries (events spread over them by a hash of the event id).
redis_run() {
    local label=$1 nodes=$2 rss=() pid addresses
    shift 2
    redis_start "$label" "$nodes"
    addresses=$(IFS=,; echo "${redis_urls[*]}")
    if ! SPIN_VARIABLE_REDIS_ADDRESS=$addresses SPIN_VARIABLE_REDIS_HOST='127.0.0.1:*' \
        serve_host "$label"; then
        status=1
        redis_stop
        return 0
    fi
    for pid in "$served_pid" "${redis_pids[@]}"; do rss+=(--rss-pid "$pid"); done
    run_ext "$@" --base-url "$served_url" "${rss[@]}" --label "$label" --out-dir "$out" ||
        cat "$work/$label.err" >"$out/$label.runtime-stderr.txt"
    stop_pid "$served_pid"
    redis_stop
}

# The Redis rows: the flash sale, closed loop and at an offered 1,000 buyers/s, on one
# Redis and on three primaries.
redis_rows() {
    if ! command -v redis-server >/dev/null; then
        echo "==> installing redis-server (Debian package)"
        apt-get update >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server >/dev/null
    fi
    echo "==> flash-sale on Redis (one node; three primaries): $fs_buyers buyers, $fs_conc concurrent, and $open_buyers at 1,000/s"
    redis_run ours-redis-flash-sale 1 flash-sale --buyers "$fs_buyers" --concurrency "$fs_conc"
    redis_run ours-redis3-flash-sale 3 flash-sale --buyers "$fs_buyers" --concurrency "$fs_conc"
    redis_run ours-redis-flash-sale-open-1000 1 flash-sale --buyers "$open_buyers" --rate 1000
    redis_run ours-redis3-flash-sale-open-1000 3 flash-sale --buyers "$open_buyers" --rate 1000
}
