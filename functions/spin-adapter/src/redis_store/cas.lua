-- Compare-and-swap of one whole value (booking RedisStore).
-- KEYS[1]: the key. ARGV[1]: "1" if the snapshot saw a value, "0" if it saw
-- none. ARGV[2]: the value the snapshot saw ("" when none). ARGV[3]: the new
-- value.
-- Writes ARGV[3] only if the key still holds exactly the snapshot (or, for an
-- absent snapshot, is still absent: create-if-absent). Replies {1} when it
-- wrote; {0, current} on a conflict, or {0} when the key is now absent.
local current = redis.call('GET', KEYS[1])
local matches
if ARGV[1] == '1' then
  matches = current == ARGV[2]
else
  matches = current == false
end
if matches then
  redis.call('SET', KEYS[1], ARGV[3])
  return {1}
end
if current then
  return {0, current}
end
return {0}
