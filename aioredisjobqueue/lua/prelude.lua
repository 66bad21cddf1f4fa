-- prelude: shared helpers, prepended to every script of the queue when the scripts load.
-- The state hash holds "DELIVERIES:TOKEN" per job once delivered: how many times the job
-- was handed out, and the token of the lock it is under (empty while it is not locked).
-- These functions are the only code that reads or writes that format.

-- the server's time, in microseconds (scores of the queue's zsets are on this clock)
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- deliveries (a number) and token ('' when not locked) of a state; nil: never delivered
local function parse_state(state)
  if not state then
    return 0, ''
  end
  local deliveries, token = string.match(state, '^(%d+):(.*)$')
  return tonumber(deliveries), token
end

-- the state of a job handed out `deliveries` times, locked under `token` (nil: not locked)
local function make_state(deliveries, token)
  return string.format('%d:%s', deliveries, token or '')
end

-- the deliveries of job `id` if `token` holds its lock, else nil. An empty token holds
-- nothing: a job that is not locked (released, dead-lettered) has an empty token itself.
local function held_by(state_key, id, token)
  if token == nil or token == '' then
    return nil
  end
  local deliveries, holder = parse_state(redis.call('HGET', state_key, id))
  if holder ~= token then
    return nil
  end
  return deliveries
end

-- Every job whose payload is stored sits in exactly one of the zsets waiting, locked and
-- dead; add_job counts on it to heal what an eviction leaves.

-- queue the job `id` with the canonical JSON `text`, due at `score` (µs), unless it is in
-- the queue already; true if it was queued. `k` names the keys: waiting, payloads, locked,
-- dead, state, errors. An eviction (Redis dropping whole keys to free memory) can leave a
-- payload in no zset: that job is queued again, as new, instead of being a duplicate for
-- ever. A new payload drops what an eviction of the payloads may have left of an older job
-- (zset entries, state, last error).
local function add_job(k, id, text, score)
  if redis.call('HSETNX', k.payloads, id, text) == 1 then
    if redis.call('HDEL', k.state, id) == 1 then
      redis.call('ZREM', k.locked, id)
      redis.call('ZREM', k.dead, id)
      redis.call('HDEL', k.errors, id)
    end
  else
    for _, key in ipairs({k.waiting, k.locked, k.dead}) do
      if redis.call('ZSCORE', key, id) then
        return false
      end
    end
    redis.call('HDEL', k.state, id)
    redis.call('HDEL', k.errors, id)
  end
  redis.call('ZADD', k.waiting, score, id)
  return true
end

