-- requeue_dead: put dead-lettered jobs back in the queue, due now, with no deliveries.
-- KEYS[1] ready list, KEYS[2] state hash, KEYS[3] dead zset
-- ARGV[1] wake channel, then the job ids to requeue; none: every dead job
-- returns how many jobs were requeued
local ids = {}
for i = 2, #ARGV do
  ids[i - 1] = ARGV[i]
end
if #ids == 0 then
  ids = redis.call('ZRANGE', KEYS[3], 0, -1)
end
local now = now_us()
local n = 0
for i = 1, #ids do
  if redis.call('ZREM', KEYS[3], ids[i]) == 1 then
    n = n + 1
    -- at the end of the ready list, in the order they died
    push_ready(KEYS[1], ids[i], now)
    redis.call('HDEL', KEYS[2], ids[i])
  end
end
if n > 0 then
  publish(ARGV[1], '')
end
return n
