-- Compare-and-swap of one whole value (booking RedisStore).
-- KEYS[1]: the key. ARGV[1]: "1" if the snapshot saw a value, "0" if it saw
-- none. ARGV[2]: the value the snapshot saw ("" when none). ARGV[3]: the new
-- value.
-- Writes ARGV[3] only if the key still holds exactly the snapshot (or, for an
-- absent snapshot, is still absent: create-if-absent). Replies {1} when it
-- wrote; {0, current} on a conflict, or {0} when the key is now absent.
--
-- For an inventory document, also KEYS[2]: the event's change stream;
-- ARGV[4]: the document ("<section>/<doc>"), ARGV[5]: the hold id prefix
-- ("h1~<event>~<section>~"), ARGV[6]: the stream's approximate MAXLEN. The
-- change records the new value adds (its "ch" entries numbered past the old
-- value's "cs") are appended to the stream in this same script, before the
-- value is written: one atomic step, so the stream never lacks a change the
-- store has, nor has one the store lacks.
local current = redis.call('GET', KEYS[1])
local matches
if ARGV[1] == '1' then
  matches = current == ARGV[2]
else
  matches = current == false
end
if not matches then
  if current then
    return {0, current}
  end
  return {0}
end

local types = {P = 'hold-placed', C = 'hold-confirmed', R = 'hold-released',
  X = 'hold-expired', U = 'hold-undone'}
local function whole(number)
  return string.format('%d', number)
end
-- The record count "cs" is a top-level number; no other field of the
-- document is named so, and ids cannot hold a quote: a match finds it
-- without decoding, and a write that added no record decodes nothing.
local function record_count(value)
  return tonumber(string.match(value, '"cs":(%d+)') or '0')
end
local seen = 0
if ARGV[1] == '1' then
  seen = record_count(ARGV[2])
end
if KEYS[2] and record_count(ARGV[3]) > seen then
  local decoded, doc = pcall(cjson.decode, ARGV[3])
  if decoded and type(doc) == 'table' and type(doc.ch) == 'table' then
    local this_doc = string.match(ARGV[4], '/(%d+)$') or '0'
    for _, record in ipairs(doc.ch) do
      if type(record) == 'table' and type(record.n) == 'number' and record.n > seen then
        local primary = this_doc
        if type(record.m) == 'number' then
          primary = whole(record.m)
        end
        local fields = {'document', ARGV[4], 'seq', whole(record.n),
          'type', types[record.k] or 'unknown',
          'hold_id', ARGV[5] .. primary .. '~' .. tostring(record.h),
          'at_ms', whole(record.t or 0)}
        if type(record.st) == 'table' then
          table.insert(fields, 'quantity')
          table.insert(fields, whole(#record.st))
          table.insert(fields, 'seats')
          table.insert(fields, cjson.encode(record.st))
        else
          table.insert(fields, 'quantity')
          table.insert(fields, whole(record.q or 0))
        end
        if type(record.c) == 'string' then
          table.insert(fields, 'customer_id')
          table.insert(fields, record.c)
        end
        if type(record.x) == 'number' then
          table.insert(fields, 'expires_ms')
          table.insert(fields, whole(record.x))
        end
        redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', unpack(fields))
      end
    end
  end
end
redis.call('SET', KEYS[1], ARGV[3])
return {1}
