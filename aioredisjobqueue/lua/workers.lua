-- workers: the live workers of a queue, those whose entries have not expired.
-- KEYS[1] workers zset
-- ARGV[1] the key of a worker's hash without the worker id (its hash tag is the queue's,
-- so every worker's hash is in the same slot as KEYS[1])
-- returns a flat array: worker id, then its hash as a flat array of field, value, for each
-- live worker, soonest to expire first (a worker whose hash is gone is left out)
local now = now_us()
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. string.format('%.0f', now), '+inf')
local out = {}
for _, id in ipairs(ids) do
  local fields = redis.call('HGETALL', ARGV[1] .. id)
  if #fields > 0 then
    out[#out + 1] = id
    out[#out + 1] = fields
  end
end
return out
