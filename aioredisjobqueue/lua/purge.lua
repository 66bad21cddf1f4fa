-- purge: remove every job of the queue, whatever its state.
-- KEYS[1] waiting zset, KEYS[2] locked zset, KEYS[3] payloads hash, KEYS[4] state hash, KEYS[5] dead zset
-- no ARGV
-- returns how many jobs were removed
local n = redis.call('HLEN', KEYS[3])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
return n
