-- wait: register a queue object's idle consumers for the hand-off of new jobs (put.lua),
-- unless a job is due now. Sent with the blocking read of the inbox (BLPOP) right after it.
-- KEYS[1] waiting zset, KEYS[2] locked zset, KEYS[3] waiters zset, KEYS[4] the inbox list,
-- KEYS[5] ready list
-- ARGV[1] the registration, "INBOX:TOKEN:LOCK_MS:COUNT", ARGV[2] how long it holds (ms),
-- ARGV[3] the registration it replaces ('': none)
-- returns 1 if registered; 0 if a job is due now: then nothing is registered and an empty
-- element is pushed to the inbox, so that the read after this call returns at once.
-- The waiters zset expires with its longest registration, so registrations nobody removes
-- (a process killed while it waited) do not keep it for ever.
local now = now_us()
if ARGV[3] ~= '' then
  redis.call('ZREM', KEYS[3], ARGV[3])
end
-- registrations of waiters that died (or lost their connection) expire
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
if ready_count(KEYS[5]) > 0
    or #redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1) > 0
    or #redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1) > 0 then
  redis.call('RPUSH', KEYS[4], '')
  redis.call('PEXPIRE', KEYS[4], ARGV[2])
  return 0
end
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]) * 1000, ARGV[1])
-- never shorten it: another registration may hold longer (PTTL is -1 for a new zset)
if redis.call('PTTL', KEYS[3]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[3], ARGV[2])
end
return 1
