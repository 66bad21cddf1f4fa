-- put: add jobs whose id is not in the queue yet; hand those due now to an idle consumer
-- (see below), else wake sleeping consumers.
-- KEYS[1] waiting zset, KEYS[2] payloads hash, KEYS[3] queue marker (set if missing),
-- KEYS[4] locked zset, KEYS[5] dead zset, KEYS[6] state hash, KEYS[7] errors hash,
-- KEYS[8] ready list, KEYS[9] waiters zset (its members' inboxes are lists named
-- KEYS[9] .. ':' .. INBOX)
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
local fresh = {} -- the triples queued due now, in order
for i = 1, n do
  local delay = tonumber(ARGV[3 * i + 1])
  -- delayed jobs of one call score a microsecond apart, in order, so a batch keeps its
  -- order; the ready list keeps it by itself
  local at = delay == 0 and now or now + delay - (n - i)
  if add_job(k, ARGV[3 * i - 1], ARGV[3 * i], at, delay == 0) then
    added[i] = 1
    if delay == 0 then
      fresh[#fresh + 1] = i
    end
  else
    added[i] = 0
  end
end
redis.call('SET', KEYS[3], string.format('%.0f', now), 'NX')

-- Hand-off: a live waiter (a queue object with idle consumers, registered by wait.lua) is
-- handed the new jobs, up to its COUNT, locked under its TOKEN for its LOCK_MS, pushed as
-- one batch to its inbox, which it reads with a blocking read; its registration goes with
-- it. Only when the new jobs are all that is due, so that jobs due before them go first.
-- A batch: "TOKEN LOCK_MS\n", then per job "DELIVERIES WAITED_US IDLEN PAYLOADLEN\n", id, payload.
local handed = 0
if #fresh > 0 and redis.call('EXISTS', KEYS[9]) == 1 then
  local waiters = redis.call('ZRANGEBYSCORE', KEYS[9], '(' .. now, '+inf', 'LIMIT', 0, 8)
  if #waiters > 0 and ready_count(k.ready) == #fresh
      and #redis.call('ZRANGEBYSCORE', k.waiting, '-inf', now, 'LIMIT', 0, 1) == 0
      and #redis.call('ZRANGEBYSCORE', k.locked, '-inf', now, 'LIMIT', 0, 1) == 0 then
    for _, waiter in ipairs(waiters) do
      local inbox, token, lock_ms, count = string.match(waiter, '^(%w+):(%w+):(%d+):(%d+)$')
      redis.call('ZREM', KEYS[9], waiter)
      local batch = {token .. ' ' .. lock_ms .. '\n'}
      for j = handed + 1, math.min(#fresh, handed + tonumber(count)) do
        local id, text = ARGV[3 * fresh[j] - 1], ARGV[3 * fresh[j]]
        redis.call('ZADD', k.locked, now + tonumber(lock_ms) * 1000, id)
        redis.call('HSET', k.state, id, make_state(1, token))
        batch[#batch + 1] = string.format('1 0 %d %d\n', #id, #text) .. id .. text
        handed = j
      end
      local key = KEYS[9] .. ':' .. inbox
      redis.call('RPUSH', key, table.concat(batch))
      redis.call('PEXPIRE', key, lock_ms)
      if handed == #fresh then
        break
      end
    end
    -- the ready list held the new jobs alone, in order: the first ones went
    drop_ready(k.ready, handed)
  end
end
if handed < #fresh then
  publish(ARGV[1], '')
end
return added
