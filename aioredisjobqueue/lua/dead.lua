-- dead: list dead-lettered jobs, oldest first.
-- KEYS[1] payloads hash, KEYS[2] state hash, KEYS[3] dead zset, KEYS[4] errors hash
-- ARGV[1] index of the last entry to list (-1: all)
-- returns a flat array: job id, payload, deliveries, dead-lettered at (µs, server clock),
-- last error (nil: none) per job; an entry whose payload is gone (evicted) is left out
local entries = redis.call('ZRANGE', KEYS[3], 0, ARGV[1], 'WITHSCORES')
local out = {}
for i = 1, #entries, 2 do
  local id = entries[i]
  local payload = redis.call('HGET', KEYS[1], id)
  if payload then
    out[#out + 1] = id
    out[#out + 1] = payload
    out[#out + 1] = (parse_state(redis.call('HGET', KEYS[2], id)))
    out[#out + 1] = entries[i + 1]
    out[#out + 1] = redis.call('HGET', KEYS[4], id)
  end
end
return out
