-- shards: how many shards the queue has, claimed by its first use.
-- KEYS[1] the queue's shards string, KEYS[2] the queue's marker
-- ARGV[1] the shards the caller opened the queue with (an int >= 1)
-- returns the shards stored: ARGV[1] if none were (it is stored then, and the marker set,
-- when it is over 1); 1 for a queue of one shard (nothing stored, and nothing written)
local stored = redis.call('GET', KEYS[1])
if stored then
  return tonumber(stored)
end
if ARGV[1] == '1' or redis.call('EXISTS', KEYS[2]) == 1 then
  return 1
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], string.format('%.0f', now_us()), 'NX')
return tonumber(ARGV[1])
