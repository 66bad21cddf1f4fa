-- release: give back a job its token holds, without completing it.
-- KEYS[1] waiting zset, KEYS[2] locked zset, KEYS[3] state hash, KEYS[4] dead zset,
-- KEYS[5] errors hash, KEYS[6] ready list
-- ARGV[1] job id, ARGV[2] token, ARGV[3] delay in microseconds before it is due again
-- (0: due at once, in the ready list),
-- ARGV[4] max deliveries (0: no limit), ARGV[5] wake channel (published to when due at once),
-- ARGV[6] 1 to take back the delivery too (the job never reached its consumer), else 0,
-- ARGV[7] the error it failed with ('': keep the last error), ARGV[8] done channel (told
-- the id when it goes to the dead set, for result() waiters)
-- returns 1 if the job waits again, 2 if it went to the dead set (delivered max-deliveries
-- times), 0 if the token does not hold the job
local deliveries = held_by(KEYS[3], ARGV[1], ARGV[2])
if not deliveries then
  return 0
end
local now = now_us()
local max_deliveries = tonumber(ARGV[4])
if ARGV[6] == '1' then
  deliveries = math.max(deliveries - 1, 0)
  max_deliveries = 0
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], make_state(deliveries))
if ARGV[7] ~= '' then
  redis.call('HSET', KEYS[5], ARGV[1], ARGV[7])
end
if max_deliveries > 0 and deliveries >= max_deliveries then
  redis.call('ZADD', KEYS[4], now, ARGV[1])
  publish(ARGV[8], ARGV[1])
  return 2
end
if tonumber(ARGV[3]) == 0 then
  push_ready(KEYS[6], ARGV[1], now)
  publish(ARGV[5], '')
else
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
end
return 1
