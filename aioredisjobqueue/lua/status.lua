-- status: where one job is, by the server's clock.
-- KEYS[1] waiting zset, KEYS[2] locked zset, KEYS[3] payloads hash, KEYS[4] state hash,
-- KEYS[5] dead zset, KEYS[6] errors hash, KEYS[7] the job's result string, KEYS[8] ready list
-- ARGV[1] job id
-- returns nil if the queue has no such job and keeps no result of it, else
-- {state, deliveries, time (µs, server clock), last error or false} where state is
-- 'waiting' (time: due since), 'delayed' (time: due at), 'locked' (time: lock expires at;
-- a lock that expired counts as 'waiting'), 'dead' (time: dead-lettered at) or
-- 'completed' (time: completed at; only while its result is kept). A job in the ready list
-- is 'waiting' with time false: it is known to be there in O(1) (prelude's placement), but
-- when it became due only a scan of the list would tell.
local id = ARGV[1]
if redis.call('HEXISTS', KEYS[3], id) == 0 then
  local result = redis.call('GET', KEYS[7])
  if not result then
    return nil
  end
  local deliveries, at = string.match(result, '^(%d+):(%d+):')
  return {'completed', tonumber(deliveries), at, false}
end
local now = now_us()
local deliveries = parse_state(redis.call('HGET', KEYS[4], id))
local error = redis.call('HGET', KEYS[6], id)
local k = {
  waiting = KEYS[1], locked = KEYS[2], payloads = KEYS[3], dead = KEYS[5], ready = KEYS[8],
}
local name, score = placement(k, id)
if not name then
  return nil
elseif name == 'ready' then
  name, score = 'waiting', false
elseif name == 'locked' then
  name = tonumber(score) > now and 'locked' or 'waiting'
elseif name == 'waiting' then
  name = tonumber(score) > now and 'delayed' or 'waiting'
end
return {name, deliveries, score, error}
