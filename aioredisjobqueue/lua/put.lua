-- put: add jobs whose id is not in the queue yet.
-- KEYS[1] waiting zset, KEYS[2] locked zset, KEYS[3] payloads hash, KEYS[4] state hash, KEYS[5] dead zset
-- ARGV[1] delay in microseconds (>= 0), then pairs: ARGV[2k] job id, ARGV[2k+1] canonical JSON
-- returns an array with one integer per pair: 1 if queued, 0 if that id is already in the queue
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local at = now + tonumber(ARGV[1])
local n = (#ARGV - 1) / 2
local added = {}
for i = 1, n do
  local id = ARGV[2 * i]
  if redis.call('HSETNX', KEYS[3], id, ARGV[2 * i + 1]) == 1 then
    -- the jobs of one batch score a microsecond apart, in order, the last at `at`
    redis.call('ZADD', KEYS[1], at - (n - i), id)
    added[i] = 1
  else
    added[i] = 0
  end
end
return added
