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
}
