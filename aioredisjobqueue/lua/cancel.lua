-- cancel: remove one job at once, whatever its state; a consumer holding it loses its lock.
-- KEYS[1] waiting zset, KEYS[2] locked zset, KEYS[3] payloads hash, KEYS[4] state hash,
-- KEYS[5] dead zset, KEYS[6] errors hash, KEYS[7] ready list
-- ARGV[1] job id, ARGV[2] done channel (told the id, for result() waiters)
-- returns 1 if the job was in the queue and is removed, 0 if there was no such job
-- (O(n) in the ready list's length for a job in it: the server scans it for the id once,
-- from the head, and removes its entry from the nearer end)
local id = ARGV[1]
if redis.call('HDEL', KEYS[3], id) == 0 then
  return 0
end
if redis.call('ZREM', KEYS[1], id) + redis.call('ZREM', KEYS[2], id)
    + redis.call('ZREM', KEYS[5], id) == 0 then
  remove_ready(KEYS[7], id)
end
redis.call('HDEL', KEYS[4], id)
redis.call('HDEL', KEYS[6], id)
publish(ARGV[2], id)
return 1
