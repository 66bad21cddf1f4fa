-- put: add jobs whose id is not in the queue yet; wake sleeping consumers.
-- KEYS[1] waiting zset, KEYS[2] payloads hash, KEYS[3] queue marker (set if missing),
-- KEYS[4] locked zset, KEYS[5] dead zset, KEYS[6] state hash, KEYS[7] errors hash,
-- KEYS[8] ready list
-- ARGV[1] wake channel, then triples: ARGV[3k-1] job id, ARGV[3k] canonical JSON,
-- ARGV[3k+1] delay in microseconds (>= 0; 0: due at once, in the ready list)
-- returns an array with one integer per triple: 1 if queued, 0 if that id is already in the queue
-- (a job an eviction left half there is queued again: see add_job in the prelude)
local k = {
  waiting = KEYS[1], payloads = KEYS[2], locked = KEYS[4], dead = KEYS[5], state = KEYS[6],
  errors = KEYS[7], ready = KEYS[8],
}
local now = now_us()
local n = (#ARGV - 1) / 3
local added = {}
local due_now = false
for i = 1, n do
  local delay = tonumber(ARGV[3 * i + 1])
  -- delayed jobs of one call score a microsecond apart, in order, so a batch keeps its
  -- order; the ready list keeps it by itself
  local at = delay == 0 and now or now + delay - (n - i)
  if add_job(k, ARGV[3 * i - 1], ARGV[3 * i], at, delay == 0) then
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
  publish(ARGV[1], '')
end
return added
