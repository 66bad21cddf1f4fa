-- unwait: end the hand-off to a queue object's consumers.
-- KEYS[1] waiters zset, KEYS[2] the inbox list
-- ARGV[1] its registration ('': none), ARGV[2] 1 to leave an empty element in the inbox
-- (so that a blocking read of it returns at once), else 0
-- returns the batches that were in the inbox, for their jobs to be given back
if ARGV[1] ~= '' then
  redis.call('ZREM', KEYS[1], ARGV[1])
end
local batches = redis.call('LRANGE', KEYS[2], 0, -1)
redis.call('DEL', KEYS[2])
if ARGV[2] == '1' then
  redis.call('RPUSH', KEYS[2], '')
  redis.call('PEXPIRE', KEYS[2], 60000)
end
return batches
