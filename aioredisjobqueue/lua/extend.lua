-- extend: move the lock expiry of a job its token holds.
-- KEYS[1] locked zset, KEYS[2] state hash
-- ARGV[1] job id, ARGV[2] token, ARGV[3] lock timeout in ms from now
-- returns 1 if the lock now expires ARGV[3] ms from now, 0 if the token does not hold the job
-- (a lock that expired but that no other consumer took yet still holds)
if not held_by(KEYS[2], ARGV[1], ARGV[2]) then
  return 0
end
local now = now_us()
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]) * 1000, ARGV[1])
return 1
