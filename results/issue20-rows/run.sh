#!/usr/bin/env bash
# The issue-20 rows run by hand (scripts/bench runs the same and more): ours and the ideal
# component (tests/ideal), back to back, on the local runtime's default store, real Spin's
# default store and one Redis; closed loop (20,000 buyers, 500 concurrent) and an offered
# 1,000 buyers/s (10,000 buyers). Then `booking-load ruler` writes ruler.md.
# Needs the components, tests/ideal's .wasm, booking-host and booking-load built (release).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=results/issue20-rows
load=target/release/booking-load
spin=${SPIN_BIN:-../shared/tools/spin}
ideal=(--manifest "$PWD/tests/ideal/spin.toml" --no-feed-check)
closed=(flash-sale --buyers 20000 --concurrency 500)
open=(flash-sale --buyers 10000 --rate 1000)
status=0
run() { "$load" "$@" --out-dir "$out" --no-progress >/dev/null || status=1; }
# spin_run MANIFEST LABEL ARGS...: one run against a fresh `spin up`.
spin_run() {
    local manifest=$1 label=$2 port state
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    shift 2
    state=$(mktemp -d)
    SPIN_VARIABLE_ADMIN_TOKEN=ruler-admin-token-000001 SPIN_VARIABLE_CONFIRM_TOKEN=ruler-confirm-token-01 \
        "$load" "$@" --base-url "http://127.0.0.1:$port" --admin-token ruler-admin-token-000001 \
        --confirm-token ruler-confirm-token-01 \
        --server-command "$spin up --from $manifest --listen 127.0.0.1:$port --state-dir $state" \
        --label "$label" --out-dir "$out" --no-progress >/dev/null || status=1
    rm -rf "$state"
}
redis_run() {
    local label=$1
    shift
    scripts/lib/redis-run.sh 1 "$@" --label "$label" --out-dir "$out" --no-progress >/dev/null || status=1
}
"$load" floor --seconds 5 --out-dir "$out" >/dev/null  # the storage floor, for the bound
run "${closed[@]}" --label ours-flash-sale
run "${closed[@]}" "${ideal[@]}" --label ideal-flash-sale
run "${open[@]}" --label ours-flash-sale-open-1000
run "${open[@]}" "${ideal[@]}" --label ideal-flash-sale-open-1000
if [[ -x "$spin" ]]; then
    spin_run spin.toml spin-flash-sale "${closed[@]}"
    spin_run tests/ideal/spin.toml ideal-spin-flash-sale "${closed[@]}" --no-feed-check
    spin_run spin.toml spin-flash-sale-open-1000 "${open[@]}"
    spin_run tests/ideal/spin.toml ideal-spin-flash-sale-open-1000 "${open[@]}" --no-feed-check
fi
redis_run ours-redis-flash-sale "${closed[@]}"
BOOKING_MANIFEST=tests/ideal/spin.toml redis_run ideal-redis-flash-sale "${closed[@]}" --no-feed-check
redis_run ours-redis-flash-sale-open-1000 "${open[@]}"
BOOKING_MANIFEST=tests/ideal/spin.toml redis_run ideal-redis-flash-sale-open-1000 "${open[@]}" --no-feed-check
"$load" ruler "$out"/*.json --floor "$out/floor.json" --out "$out/ruler.md" >/dev/null
exit "$status"
