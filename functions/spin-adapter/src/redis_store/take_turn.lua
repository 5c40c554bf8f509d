-- Takes a turn on a document (booking RedisStore, redis_turns): the writers of
-- one hot document queue for it instead of racing their compare-and-swaps.
-- A turn is only a hint: the compare-and-swap still decides, so a lost or a
-- duplicated turn costs time, never correctness.
-- KEYS[1]: the document's turn list. KEYS[2]: its mint marker. ARGV[1]: the
-- marker's lifetime (ms): at most one new turn per lifetime.
-- Replies 1 (this caller holds a turn) or 0 (wait for one with BLPOP).
if redis.call('LPOP', KEYS[1]) then
  return 1
end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then
  return 1
end
return 0
