-- delete_dead: remove dead-lettered jobs for good, with their last errors.
-- KEYS[1] dead zset, KEYS[2] payloads hash, KEYS[3] state hash, KEYS[4] errors hash
-- ARGV[1] done channel (told each id deleted, for result() waiters), then the job ids to
-- delete; none: every dead job
-- returns how many jobs were deleted (ids that are no dead letter are left alone)
local ids = {}
for i = 2, #ARGV do
  ids[i - 1] = ARGV[i]
end
if #ids == 0 then
  ids = redis.call('ZRANGE', KEYS[1], 0, -1)
end
local n = 0
for i = 1, #ids do
  if redis.call('ZREM', KEYS[1], ids[i]) == 1 then
    n = n + 1
    redis.call('HDEL', KEYS[2], ids[i])
    redis.call('HDEL', KEYS[3], ids[i])
    redis.call('HDEL', KEYS[4], ids[i])
    publish(ARGV[1], ids[i])
  end
end
return n
