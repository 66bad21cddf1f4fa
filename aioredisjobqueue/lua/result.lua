-- result: the result of a job if it has one, else whether it may still get one.
-- KEYS[1] payloads hash, KEYS[2] dead zset, KEYS[3] errors hash, KEYS[4] the job's result string
-- ARGV[1] job id
-- returns {'pending'} while the job is in the queue and not dead (a result kept of an earlier
-- run of equal content does not count), {'dead', last error or false} for a dead letter,
-- {'done', "DELIVERIES:COMPLETED_AT_µs:JSON"} for a kept result, nil if none of these
local id = ARGV[1]
if redis.call('ZSCORE', KEYS[2], id) then
  return {'dead', redis.call('HGET', KEYS[3], id)}
end
if redis.call('HEXISTS', KEYS[1], id) == 1 then
  return {'pending'}
end
local result = redis.call('GET', KEYS[4])
if result then
  return {'done', result}
end
return nil
