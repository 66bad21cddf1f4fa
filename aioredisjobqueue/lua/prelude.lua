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

-- The ready list holds the jobs due at once as pairs: id, then the time (µs, server clock)
-- it became due as 8 bytes, big-endian, oldest first. An entry costs about 24 bytes where
-- a zset entry costs about 104. Jobs that wait for a time stay in the waiting zset (and so
-- do the ready jobs of queues written before the ready list: both are read, merged by
-- time). These functions are the code that reads or writes the list's entries.
-- The time is packed, not written in digits: Redis would store digits as an integer, and
-- LPOS and LREM compare an id with an integer entry by printing the integer (ten times
-- slower than skipping an 8-byte string, which cannot be a 12-byte id).

-- the job `id` is due at once, since `at` (µs): it goes to the end of the ready list
local function push_ready(ready, id, at)
  local bytes = {}
  for i = 8, 1, -1 do
    bytes[i] = at % 256
    at = math.floor(at / 256)
  end
  redis.call('RPUSH', ready, id, string.char(unpack(bytes)))
end

-- the pairs from the `first` to the `last` (0-based, inclusive; -1: the end) of the ready
-- list as a flat array: id, time (a number, µs), id, time, ...
local function ready_range(ready, first, last)
  local stop = last < 0 and -1 or 2 * last + 1
  local flat = redis.call('LRANGE', ready, 2 * first, stop)
  for i = 2, #flat, 2 do
    local at = 0
    for b = 1, 8 do
      at = at * 256 + string.byte(flat[i], b)
    end
    flat[i] = at
  end
  return flat
end

-- drop the first `n` jobs of the ready list (those a get looked at)
local function drop_ready(ready, n)
  if n > 0 then
    redis.call('LTRIM', ready, 2 * n, -1)
  end
end

-- remove job `id` from the ready list; true if it was there. O(n) in the list's length:
-- the server scans it from the head for the id (LPOS: a time is 8 bytes long, an id 12).
local function remove_ready(ready, id)
  local i = redis.call('LPOS', ready, id)
  if not i then
    return false
  end
  -- its time becomes a second copy of its id, and both go in one LREM, which scans from
  -- the end nearer to them (a negative count: from the tail). An id is in the list once
  -- (add_job queues a job only when placement finds it nowhere), so the two copies nearest
  -- the tail are these two.
  redis.call('LSET', ready, i + 1, id)
  local from_tail = i >= redis.call('LLEN', ready) / 2
  redis.call('LREM', ready, from_tail and -2 or 2, id)
  return true
end

-- how many jobs the ready list holds
local function ready_count(ready)
  return redis.call('LLEN', ready) / 2
end

-- Every job whose payload is stored sits in exactly one of the ready list and the zsets
-- waiting, locked and dead; add_job counts on it to heal what an eviction leaves.

-- true if the ready list and the zsets hold as many jobs as there are payloads: then every
-- payload has its entry (none was lost), so a payload stored means a job in the queue, and
-- a duplicate is known in O(1) without scanning the ready list. (Entries whose payload is
-- gone could make up for lost ones only after a payload field alone was removed: Redis
-- evicts whole keys, and a new payloads hash drops every other key, see add_job.)
local function placed_all(k)
  local placed = ready_count(k.ready) + redis.call('ZCARD', k.waiting)
    + redis.call('ZCARD', k.locked) + redis.call('ZCARD', k.dead)
  return placed == redis.call('HLEN', k.payloads)
end

-- where the job `id`, whose payload is stored, is placed: 'dead', 'locked' or 'waiting'
-- with its score there, 'ready' (in the ready list; no score: its time is known only to a
-- scan of the list), or nil if in none (an eviction lost its entry). O(1) while no entry
-- was lost (placed_all): a job in none of the zsets is then in the ready list; only when
-- the counts differ does the server scan the list for it (LPOS, O(n)).
local function placement(k, id)
  for _, name in ipairs({'dead', 'locked', 'waiting'}) do
    local score = redis.call('ZSCORE', k[name], id)
    if score then
      return name, score
    end
  end
  if placed_all(k) or redis.call('LPOS', k.ready, id) then
    return 'ready'
  end
  return nil
end

-- queue the job `id` with the canonical JSON `text`, due at `at` (µs), unless it is in the
-- queue already; true if it was queued. A job due at once (`ready`) goes to the ready list,
-- one due later to the waiting zset. `k` names the keys: ready, waiting, payloads, locked,
-- dead, state, errors. An eviction (Redis dropping whole keys to free memory) can leave a
-- payload in no list or zset: that job is queued again, as new, instead of being a
-- duplicate for ever (placement: O(1) unless the counts show an entry lost).
-- A new payload drops what an eviction of the payloads may have left of an older job (zset
-- entries, state, last error); a payload put in an empty payloads hash drops everything
-- the other keys hold, since a job without its payload is no job (and the ready list
-- could not be searched for them one by one).
local function add_job(k, id, text, at, ready)
  if redis.call('HSETNX', k.payloads, id, text) == 1 then
    if redis.call('HLEN', k.payloads) == 1 then
      redis.call('DEL', k.ready, k.waiting, k.locked, k.dead, k.state, k.errors)
    elseif redis.call('HDEL', k.state, id) == 1 then
      redis.call('ZREM', k.waiting, id)
      redis.call('ZREM', k.locked, id)
      redis.call('ZREM', k.dead, id)
      redis.call('HDEL', k.errors, id)
    end
  else
    if placement(k, id) then
      return false
    end
    redis.call('HDEL', k.state, id)
    redis.call('HDEL', k.errors, id)
  end
  if ready then
    push_ready(k.ready, id, at)
  else
    redis.call('ZADD', k.waiting, at, id)
  end
  return true
end

-- publish `message` on a pub/sub channel as `target` (an argument of the script) names
-- it: 'PUBLISH channel', or 'SPUBLISH channel' on a Redis Cluster, where the channel is a
-- shard channel in the queue's slot (its name has the queue's hash tag). By pcall: a user
-- whose ACL denies the channel still gets the state change.
local function publish(target, message)
  local command, channel = string.match(target, '^(S?PUBLISH) (.+)$')
  redis.pcall(command, channel, message)
end
