-- complete: remove for good the jobs their tokens hold; keep the results given.
-- KEYS[1] locked zset, KEYS[2] payloads hash, KEYS[3] state hash, KEYS[4] errors hash,
-- KEYS[5...] the result string of each job given a result, in the order of the jobs
-- ARGV[1] done channel (told the ids completed, 12 bytes each, for result() waiters),
-- then quadruples: ARGV[4k-2] job id, ARGV[4k-1] token, ARGV[4k] how long to keep its
-- result in ms (0: no result), ARGV[4k+1] the result's JSON text ('' without one)
-- returns an array with one integer per job: 1 if removed, 0 if the token does not hold it
-- A result is kept as "DELIVERIES:COMPLETED_AT_µs:JSON", expiring by itself; a token that
-- lost its job keeps no result.
local done = {}
local ids = {}
local r = 4
local now
for i = 1, (#ARGV - 1) / 4 do
  local base = 4 * i - 2
  local id = ARGV[base]
  local ttl = tonumber(ARGV[base + 2])
  if ttl > 0 then
    r = r + 1
  end
  local deliveries = held_by(KEYS[3], id, ARGV[base + 1])
  if deliveries then
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
    redis.call('HDEL', KEYS[4], id)
    if ttl > 0 then
      now = now or now_us()
      local kept = string.format('%d:%.0f:', deliveries, now) .. ARGV[base + 3]
      redis.call('SET', KEYS[r], kept, 'PX', ttl)
    end
    ids[#ids + 1] = id
    done[i] = 1
  else
    done[i] = 0
  end
end
if #ids > 0 then
  publish(ARGV[1], table.concat(ids))
end
return done
