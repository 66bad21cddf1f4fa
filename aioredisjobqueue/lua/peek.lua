-- peek: read the waiting jobs that come next, without taking them.
-- KEYS[1] waiting zset, KEYS[2] payloads hash
-- ARGV[1] how many jobs at most
-- returns a flat array: job id, payload, time (µs, server clock) it is due, for each job
-- in the order it becomes due; an entry whose payload is gone (evicted) is left out
local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1, 'WITHSCORES')
local out = {}
for i = 1, #ids, 2 do
  local payload = redis.call('HGET', KEYS[2], ids[i])
  if payload then
    out[#out + 1] = ids[i]
    out[#out + 1] = payload
    out[#out + 1] = ids[i + 1]
  end
end
return out
