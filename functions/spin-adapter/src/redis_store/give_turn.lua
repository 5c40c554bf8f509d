-- Gives a turn back (booking RedisStore, redis_turns): to the next waiter, or
-- to the list if none waits; a spare turn (the list already holds one) is
-- dropped, so duplicated turns die out once the document is quiet.
-- KEYS[1]: the document's turn list.
if redis.call('LLEN', KEYS[1]) == 0 then
  redis.call('RPUSH', KEYS[1], 't')
end
return 1
