# Sourced by scripts/bench: the flash sale on the local runtime with the Redis store
# (issue 11), on one Redis and on three primaries, through scripts/lib/redis-run.sh
# (redis-servers on loopback with appendonly yes, appendfsync always; the runtime reaches
# them through Spin's outbound Redis interface, selected by the redis_address variable).
# Key-value calls over Redis are not counted (the kv-calls line counts the default store).

# redis_run LABEL NODES ARGS...: one booking-load run on NODES primaries.
redis_run() {
    local label=$1 nodes=$2
    shift 2
    scripts/lib/redis-run.sh "$nodes" "$@" --label "$label" --out-dir "$out" --no-progress \
        >/dev/null || status=1
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
    echo "==> the ideal component on Redis (one node; three primaries)"
    BOOKING_MANIFEST=$ideal_manifest redis_run ideal-redis-flash-sale 1 flash-sale --buyers "$fs_buyers" \
        --concurrency "$fs_conc" --no-feed-check
    BOOKING_MANIFEST=$ideal_manifest redis_run ideal-redis3-flash-sale 3 flash-sale --buyers "$fs_buyers" \
        --concurrency "$fs_conc" --no-feed-check
    BOOKING_MANIFEST=$ideal_manifest redis_run ideal-redis-flash-sale-open-1000 1 flash-sale \
        --buyers "$open_buyers" --rate 1000 --no-feed-check
    BOOKING_MANIFEST=$ideal_manifest redis_run ideal-redis3-flash-sale-open-1000 3 flash-sale \
        --buyers "$open_buyers" --rate 1000 --no-feed-check
}

# redis_sweep_step DIR RATE: one sweep step on one Redis, ours and the ideal's.
redis_sweep_step() {
    local dir=$1 rate=$2
    command -v redis-server >/dev/null || return 0
    scripts/lib/redis-run.sh 1 sweep --rates "$rate" --seconds "$step_seconds" --label ours-redis-sweep \
        --out-dir "$dir" --no-progress >/dev/null || status=1
    BOOKING_MANIFEST=$ideal_manifest scripts/lib/redis-run.sh 1 sweep --rates "$rate" \
        --seconds "$step_seconds" --no-feed-check --label ideal-redis-sweep --out-dir "$dir" \
        --no-progress >/dev/null || status=1
}
