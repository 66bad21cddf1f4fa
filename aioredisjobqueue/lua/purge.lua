-- purge: remove every job of the queue, whatever its state, and their last errors; and
-- the registrations of idle consumers for the hand-off (a live one registers again at its
-- next read, and new jobs are announced on the wake channel meanwhile).
-- KEYS[1] waiting zset, KEYS[2] locked zset, KEYS[3] payloads hash, KEYS[4] state hash,
-- KEYS[5] dead zset, KEYS[6] errors hash, KEYS[7] ready list, KEYS[8] waiters zset
-- no ARGV
-- returns how many jobs were removed (results kept of completed jobs stay until they expire)
local n = redis.call('HLEN', KEYS[3])
redis.call('DEL', unpack(KEYS))
return n
