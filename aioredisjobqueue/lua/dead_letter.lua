-- dead_letter: move a job its token holds to the dead letters at once.
-- KEYS[1] locked zset, KEYS[2] state hash, KEYS[3] dead zset, KEYS[4] errors hash
-- ARGV[1] job id, ARGV[2] token, ARGV[3] error text ('': keep the last error),
-- ARGV[4] done channel (told the id, for result() waiters)
-- returns 1 if the job is now dead, 0 if the token does not hold the job
local id = ARGV[1]
local deliveries = held_by(KEYS[2], id, ARGV[2])
if not deliveries then
  return 0
end
redis.call('ZREM', KEYS[1], id)
redis.call('HSET', KEYS[2], id, make_state(deliveries))
redis.call('ZADD', KEYS[3], now_us(), id)
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[4], id, ARGV[3])
end
publish(ARGV[4], id)
return 1
