-- put: add jobs whose id is not in the queue yet; wake sleeping consumers.
-- KEYS[1] waiting zset, KEYS[2] payloads hash, KEYS[3] queue marker (set if missing)
-- ARGV[1] wake channel, then triples: ARGV[3k-1] job id, ARGV[3k] canonical JSON,
-- ARGV[3k+1] delay in microseconds (>= 0)
-- returns an array with one integer per triple: 1 if queued, 0 if that id is already in the queue
local now = now_us()
local n = (#ARGV - 1) / 3
local added = {}
local due_now = false
for i = 1, n do
  local id = ARGV[3 * i - 1]
  if redis.call('HSETNX', KEYS[2], id, ARGV[3 * i]) == 1 then
    local delay = tonumber(ARGV[3 * i + 1])
    -- the jobs of one call score a microsecond apart, in order, so a batch keeps its order
    redis.call('ZADD', KEYS[1], now + delay - (n - i), id)
    added[i] = 1
    if delay == 0 then
      due_now = true
    end
  else
    added[i] = 0
  end
end
redis.call('SET', KEYS[3], string.format('%.0f', now), 'NX')
if due_now then
  redis.pcall('PUBLISH', ARGV[1], '')
end
return added
