-- wrk script for scripts/bench's answer-cost runs: counts the answers by status (and
-- problem type), and
-- with arguments `POST <json body>` sends that body with a fresh Idempotency-Key on
-- every request (as a buyer's client would). `done` prints one `status <count> <code>
-- [<problem type>]` line per kind of answer, after wrk's own report.
local threads = {}
local method, body = "GET", nil
local prefix, n = "", 0
counts = {}

function setup(thread)
    table.insert(threads, thread)
    thread:set("tid", #threads)
end

function init(args)
    if args[1] then method = args[1] end
    if args[2] then body = args[2] end
    math.randomseed(os.time() + tid)
    prefix = string.format("bench-answer-cost-%d-%d-", tid, math.random(1, 1000000000))
end

function request()
    if method == "POST" then
        n = n + 1
        return wrk.format("POST", nil,
            { ["Content-Type"] = "application/json", ["Idempotency-Key"] = prefix .. n }, body)
    end
    return wrk.format(method, nil, nil, nil)
end

-- Keyed by status and, for a problem document, its type's slug ("409 sold-out").
function response(status, headers, body)
    local key = tostring(status)
    if status >= 400 and body then
        local slug = string.match(body, '/problems/([%w-]+)')
        if slug then key = key .. " " .. slug end
    end
    counts[key] = (counts[key] or 0) + 1
end

function done(summary, latency, requests)
    local total = {}
    for _, thread in ipairs(threads) do
        local c = thread:get("counts")
        for status, count in pairs(c) do total[status] = (total[status] or 0) + count end
    end
    for status, count in pairs(total) do
        io.write(string.format("status %d %s\n", count, status))
    end
end
