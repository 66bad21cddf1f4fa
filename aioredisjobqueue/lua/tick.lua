-- tick: queue the job of one tick of a periodic schedule, unless that tick or a later one
-- of the schedule was queued already (by this worker or another).
-- KEYS[1] ticks hash (schedule name -> last tick queued, in µs since the epoch),
-- KEYS[2] waiting zset, KEYS[3] payloads hash, KEYS[4] queue marker (set if missing),
-- KEYS[5] locked zset, KEYS[6] dead zset, KEYS[7] state hash, KEYS[8] errors hash,
-- KEYS[9] ready list
-- ARGV[1] schedule name, ARGV[2] tick (µs since the epoch), ARGV[3] job id,
-- ARGV[4] canonical JSON, ARGV[5] wake channel
-- returns 1 if the job was queued, 0 if the tick (or a later one) was queued before,
-- 2 if the tick is recorded but equal content was still in the queue
local tick = tonumber(ARGV[2])
local last = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1')
if last >= tick then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local now = now_us()
redis.call('SET', KEYS[4], string.format('%.0f', now), 'NX')
local k = {
  waiting = KEYS[2], payloads = KEYS[3], locked = KEYS[5], dead = KEYS[6], state = KEYS[7],
  errors = KEYS[8], ready = KEYS[9],
}
if not add_job(k, ARGV[3], ARGV[4], now, true) then
  return 2
end
publish(ARGV[5], '')
return 1
