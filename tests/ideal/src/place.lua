-- The ideal component's hold on Redis: the server decides, so a hold is one
-- call and never a conflict. KEYS[1]: the shard document. ARGV[1]: the new
-- hold (JSON); ARGV[2]: its Idempotency-Key ("" when none).
-- Replies {1} placed; {2, hold} the key's hold is here; {0, free} no room;
-- {-1} no such document.
local raw = redis.call('GET', KEYS[1])
if not raw then
  return {-1}
end
local doc = cjson.decode(raw)
local fresh = cjson.decode(ARGV[1])
local key = ARGV[2]
local taken = 0
for _, hold in ipairs(doc.holds) do
  if key ~= '' and hold.k == key then
    return {2, cjson.encode(hold)}
  end
  if hold.s == 'C' or (hold.s == 'H' and fresh.t < hold.x) then
    taken = taken + hold.q
  end
end
local free = doc.cap - taken
if free < fresh.q then
  return {0, tostring(math.max(free, 0))}
end
table.insert(doc.holds, fresh)
redis.call('SET', KEYS[1], cjson.encode(doc))
return {1}
