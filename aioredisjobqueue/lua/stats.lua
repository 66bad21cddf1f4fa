-- stats: count the jobs of a queue by state, by the server's clock.
-- KEYS[1] waiting zset, KEYS[2] locked zset, KEYS[3] dead zset, KEYS[4] ready list
-- no ARGV
-- returns {ready, locked, delayed, dead}; a job whose lock expired counts as ready
local now = string.format('%.0f', now_us())
local ready = ready_count(KEYS[4]) + redis.call('ZCOUNT', KEYS[1], '-inf', now)
  + redis.call('ZCOUNT', KEYS[2], '-inf', now)
local locked = redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf')
local delayed = redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
return {ready, locked, delayed, redis.call('ZCARD', KEYS[3])}
