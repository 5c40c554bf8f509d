-- Atomic add on a counter stored as an 8-byte little-endian two's-complement
-- integer, the layout Spin's key-value store gives `increment` (booking
-- RedisStore). KEYS[1]: the key. ARGV[1]: the delta. An absent key counts
-- from zero. Replies the new value. Lua numbers are doubles: values and
-- deltas beyond +/-2^53 are refused rather than rounded.
local limit = 9007199254740992
local current = redis.call('GET', KEYS[1])
local value = 0
if current then
  if #current ~= 8 then
    return redis.error_reply('ERR booking counter ' .. KEYS[1] .. ' is not an 8-byte integer')
  end
  local negative = current:byte(8) >= 128
  for i = 8, 1, -1 do
    local b = current:byte(i)
    if negative then b = 255 - b end
    value = value * 256 + b
  end
  if negative then value = -value - 1 end
end
local delta = tonumber(ARGV[1])
if delta == nil then
  return redis.error_reply('ERR booking counter delta is not a number')
end
value = value + delta
if value >= limit or value <= -limit then
  return redis.error_reply('ERR booking counter ' .. KEYS[1] .. ' out of range')
end
local magnitude = value
if value < 0 then magnitude = -value - 1 end
local bytes = {}
for i = 1, 8 do
  local b = magnitude % 256
  magnitude = (magnitude - b) / 256
  if value < 0 then b = 255 - b end
  bytes[i] = string.char(b)
end
redis.call('SET', KEYS[1], table.concat(bytes))
return value
