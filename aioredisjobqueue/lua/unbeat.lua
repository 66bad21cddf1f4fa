-- unbeat: a worker that stops removes its entry at once.
-- KEYS[1] workers zset, KEYS[2] the worker's hash
-- ARGV[1] worker id
-- returns 1 if the entry was there, 0 if not (it had expired)
redis.call('DEL', KEYS[2])
return redis.call('ZREM', KEYS[1], ARGV[1])
