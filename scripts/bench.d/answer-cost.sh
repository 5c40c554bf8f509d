# Sourced by scripts/bench: the cost of an answer (issue 10, item 6). A closed-loop
# driver (wrk, 64 connections, 2 threads) asks one thing over and over, against the
# local runtime and against real Spin (each fresh, on Spin's SQLite settings):
#   - a trivial route: an unknown path, answered 404 problem+json without the store,
#   - an availability read of a small event (one section of 100 units, nothing sold),
#   - a hold on a sold-out section (500 units, default sharding, sold through by 125
#     confirmed holds of 4, as a flash sale leaves it), with a fresh Idempotency-Key each.
# Writes $out/answer-cost.md: requests/s, latency, the answers seen, and the ratios to
# the trivial route.

ensure_wrk() {
    if command -v wrk >/dev/null; then return 0; fi
    echo "    installing wrk (Debian package)"
    apt-get update >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >/dev/null
}

# ac_request METHOD URL BODY [curl options]: prints the status on the first line, then the body.
ac_request() {
    local method=$1 url=$2 body=$3 answer
    shift 3
    answer=$(curl -s --max-time 30 -X "$method" -w '\n%{http_code}' --data "$body" "$@" "$url") || true
    printf '%s\n%s\n' "${answer##*$'\n'}" "${answer%$'\n'*}"
}

# ac_setup BASE_URL: creates the two events; sets ac_small and ac_soldout (their ids).
ac_setup() {
    local base=$1 suffix answer i hold_id
    suffix=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
    ac_small=ac-small-$suffix
    ac_soldout=ac-soldout-$suffix
    answer=$(ac_request PUT "$base/events/$ac_small" \
        '{"name":"answer cost: small","sections":[{"id":"floor","capacity":100}]}' \
        -H "Authorization: Bearer $token")
    [[ "$(head -n 1 <<<"$answer")" == 201 ]] || { echo "create $ac_small: $answer" >&2; return 1; }
    answer=$(ac_request PUT "$base/events/$ac_soldout" \
        '{"name":"answer cost: sold out","sections":[{"id":"floor","capacity":500}]}' \
        -H "Authorization: Bearer $token")
    [[ "$(head -n 1 <<<"$answer")" == 201 ]] || { echo "create $ac_soldout: $answer" >&2; return 1; }
    for i in $(seq 125); do
        answer=$(ac_request POST "$base/events/$ac_soldout/holds" \
            "{\"section\":\"floor\",\"quantity\":4,\"customer_id\":\"c$i\"}" \
            -H "Idempotency-Key: bench-answer-cost-setup-$suffix-$i")
        [[ "$(head -n 1 <<<"$answer")" == 201 ]] || { echo "hold $i on $ac_soldout: $answer" >&2; return 1; }
        hold_id=$(sed -n 's/.*"hold_id":"\([^"]*\)".*/\1/p' <<<"$answer")
        answer=$(ac_request POST "$base/holds/$hold_id/confirm" "{\"payment_ref\":\"pay-$i\"}" \
            -H "Authorization: Bearer $confirm_token")
        [[ "$(head -n 1 <<<"$answer")" == 200 ]] || { echo "confirm $hold_id: $answer" >&2; return 1; }
    done
    answer=$(ac_request POST "$base/events/$ac_soldout/holds" '{"section":"floor","quantity":2}' \
        -H "Idempotency-Key: bench-answer-cost-check-$suffix")
    if [[ "$(head -n 1 <<<"$answer")" != 409 ]] || ! grep -q 'sold-out' <<<"$answer"; then
        echo "a hold on the sold-out section was not answered 409 sold-out: $answer" >&2
        return 1
    fi
}

# ac_wrk SYSTEM ROUTE EXPECTED URL [POST BODY]: one wrk run; appends a row to $ac_rows.
# EXPECTED: the status (and problem type) every answer should have.
ac_wrk() {
    local system=$1 route=$2 expected=$3 url=$4 log rps p50 p99 answers errors
    shift 4
    log="$work/wrk-$system-${route%% *}.txt"
    wrk -t 2 -c 64 -d "${ac_seconds}s" --timeout 10s --latency \
        -s scripts/bench.d/answer-cost.lua "$url" -- "$@" >"$log" 2>&1 || true
    rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$log")
    p50=$(awk '$1 == "50%" { print $2 }' "$log")
    p99=$(awk '$1 == "99%" { print $2 }' "$log")
    answers=$(awk -v want="$expected" '/^status / {
            what = $3 (NF > 3 ? " " $4 : "")
            s = s (s == "" ? "" : ", ") $2 " × " what (what == want ? "" : " (unexpected)") }
        END { print s }' "$log")
    errors=$(sed -n 's/^ *Socket errors: *//p' "$log")
    [[ -n "$rps" ]] || { echo "wrk failed against $url:" >&2; cat "$log" >&2; rps=0; }
    printf '    %-12s %-40s %6s req/s  p50 %s  p99 %s  %s\n' "$system" "$route" "$rps" "$p50" "$p99" "$answers"
    ac_rows+="| $system | $route | $rps | $p50 | $p99 | $answers${errors:+; socket errors: $errors} |"$'\n'
    ac_rps["$system/${route%% *}"]=$rps
}

# ac_measure SYSTEM BASE_URL
ac_measure() {
    local system=$1 base=$2
    if ! ac_setup "$base"; then status=1; return 0; fi
    ac_wrk "$system" "trivial (unknown path → 404)" "404 not-found" "$base/no-such-route"
    ac_wrk "$system" "availability (100 units, none sold)" 200 "$base/events/$ac_small/availability"
    ac_wrk "$system" "sold-out hold (500 units sold)" "409 sold-out" "$base/events/$ac_soldout/holds" \
        POST '{"section":"floor","quantity":2}'
}

answer_cost() {
    ac_seconds=$1
    ensure_wrk
    ac_rows=""
    ac_load_before=$(cut -d' ' -f1-3 /proc/loadavg)
    declare -gA ac_rps=()
    local systems=() s
    if serve_host answer-cost-ours; then
        ac_measure ours "$served_url"
        stop_pid "$served_pid"
        systems+=(ours)
    else
        status=1
    fi
    if [[ -n "$spin_bin" ]]; then
        if serve_spin answer-cost-spin; then
            ac_measure spin "$served_url"
            stop_pid "$served_pid"
            systems+=(spin)
        else
            status=1
        fi
    fi
    {
        echo "# The cost of an answer"
        echo
        echo "$(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD). wrk $(wrk -v 2>&1 | head -n 1 | awk '{print $2}'),"
        echo "closed loop, 64 connections, 2 threads, ${ac_seconds} s per row, on the same $(nproc) cores as the"
        echo "server. \`ours\` is the local runtime (booking-host), \`spin\` is \`$( [[ -n "$spin_bin" ]] && "$spin_bin" --version)\`;"
        echo "each fresh, on Spin's SQLite settings. The sold-out hold sends a fresh Idempotency-Key"
        echo "each time; the section was sold through by 125 confirmed holds of 4 units (default sharding)."
        echo "Load average before: $ac_load_before; after: $(cut -d' ' -f1-3 /proc/loadavg) (the machine is shared)."
        echo
        echo "| system | route | requests/s | p50 | p99 | answers |"
        echo "|---|---|---:|---:|---:|---|"
        printf '%s' "$ac_rows"
        echo
        echo "| system | availability / trivial | sold-out hold / trivial |"
        echo "|---|---:|---:|"
        for s in "${systems[@]}"; do
            awk -v s="$s" -v t="${ac_rps[$s/trivial]:-0}" -v a="${ac_rps[$s/availability]:-0}" \
                -v h="${ac_rps[$s/sold-out]:-0}" 'BEGIN {
                    if (t > 0) printf "| %s | %.0f %% | %.0f %% |\n", s, 100 * a / t, 100 * h / t
                }'
        done
        [[ -n "$spin_bin" ]] || { echo; echo "Real Spin: skipped (no Spin CLI)."; }
    } >"$out/answer-cost.md"
}
