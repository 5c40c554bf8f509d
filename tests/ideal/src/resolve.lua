-- The ideal component's confirm or release on Redis, decided in the server.
-- KEYS[1]: the shard document. ARGV[1]: the hold's nonce; ARGV[2]: "C"
-- confirm or "R" release; ARGV[3]: now (ms); ARGV[4]: the payment reference.
-- Replies {1, hold} changed or already so; {404}, {409, "C"|"R"}, {410}.
local raw = redis.call('GET', KEYS[1])
if not raw then
  return {404}
end
local doc = cjson.decode(raw)
local now = tonumber(ARGV[3])
for _, hold in ipairs(doc.holds) do
  if hold.n == ARGV[1] then
    local expired = hold.s == 'H' and now >= hold.x
    if hold.s == ARGV[2] or (expired and ARGV[2] == 'R') then
      return {1, cjson.encode(hold)}
    end
    if hold.s ~= 'H' then
      return {409, hold.s}
    end
    if expired then
      return {410}
    end
    hold.s = ARGV[2]
    if ARGV[2] == 'C' then
      hold.b = now
      if ARGV[4] ~= '' then
        hold.p = ARGV[4]
      end
    end
    redis.call('SET', KEYS[1], cjson.encode(doc))
    return {1, cjson.encode(hold)}
  end
end
return {404}
