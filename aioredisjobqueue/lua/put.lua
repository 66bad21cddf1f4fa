-- put: add jobs whose id is not in the queue yet; wake sleeping consumers.
-- KEYS[1] waiting zset, KEYS[2] payloads hash, KEYS[3] queue marker (set if missing),
-- KEYS[4] locked zset, KEYS[5] dead zset, KEYS[6] state hash, KEYS[7] errors hash
-- ARGV[1] wake channel, then triples: ARGV[3k-1] job id, ARGV[3k] canonical JSON,
-- ARGV[3k+1] delay in microseconds (>= 0)
-- returns an array with one integer per triple: 1 if queued, 0 if that id is already in the queue
-- Every script keeps each job of the payloads hash in exactly one of the zsets waiting, locked
-- and dead. An eviction (Redis dropping whole keys to free memory) can break that; a put
-- heals what it left of a job: a payload in no zset is queued again, as new, instead of being
-- a duplicate for ever; a new payload drops the zset entries and state left of an old one.
local now = now_us()
local n = (#ARGV - 1) / 3
local added = {}
local due_now = false

-- true if the job `id` (whose payload is stored) sits in none of the queue's zsets
local function lost(id)
  for _, key in ipairs({KEYS[1], KEYS[4], KEYS[5]}) do
    if redis.call('ZSCORE', key, id) then
      return false
    end
  end
  return true
end

for i = 1, n do
  local id = ARGV[3 * i - 1]
  local new = redis.call('HSETNX', KEYS[2], id, ARGV[3 * i]) == 1
  if new then
    if redis.call('HDEL', KEYS[6], id) == 1 then  -- a state without payload: evicted
      redis.call('ZREM', KEYS[4], id)
      redis.call('ZREM', KEYS[5], id)
      redis.call('HDEL', KEYS[7], id)
    end
  elseif lost(id) then
    redis.call('HDEL', KEYS[6], id)
    redis.call('HDEL', KEYS[7], id)
    new = true
  end
  if new then
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
