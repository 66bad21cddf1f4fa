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

