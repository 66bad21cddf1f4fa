-- get: lock up to ARGV[1] due jobs, oldest-due first, under a fresh token.
-- KEYS[1] waiting zset, KEYS[2] locked zset, KEYS[3] payloads hash, KEYS[4] state hash, KEYS[5] dead zset,
-- KEYS[6] ready list
-- ARGV[1] how many jobs at most, ARGV[2] lock timeout in ms, ARGV[3] token,
-- ARGV[4] max deliveries (0: no limit), ARGV[5] done channel (told the ids dead-lettered,
-- 12 bytes each, for result() waiters)
-- returns a flat array: job id, payload, deliveries (this one included), and how long it
-- had been due (µs: since its due time, or since its lock expired) for each job locked.
-- A job is due when it is in the ready list, waiting and its time has come, or locked and
-- its lock has expired; the three runs are merged by that time (a tie: ready, waiting,
-- locked). A due job already delivered max-deliveries times moves to the dead set instead.
local now = now_us()
local count = tonumber(ARGV[1])
local expires = now + tonumber(ARGV[2]) * 1000
local token = ARGV[3]
local max_deliveries = tonumber(ARGV[4])
local out = {}
local taken = 0
local died = {}
-- a job leaves the zset it was due in; the ready list is trimmed of what was looked at
local function leave(from, id)
  if from ~= KEYS[6] then
    redis.call('ZREM', from, id)
  end
end
while taken < count do
  local need = count - taken
  local r = ready_range(KEYS[6], 0, need - 1)
  local w = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, need)
  local l = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'WITHSCORES', 'LIMIT', 0, need)
  if #r == 0 and #w == 0 and #l == 0 then
    break
  end
  -- merge the three runs by time; every job looked at stops being due, so the loop ends
  local h, i, j, looked = 1, 1, 1, 0
  while looked < need and (h <= #r or i <= #w or j <= #l) do
    local id, from, due = nil, nil, math.huge
    if h <= #r then
      id, from, due = r[h], KEYS[6], tonumber(r[h + 1])
    end
    if i <= #w and tonumber(w[i + 1]) < due then
      id, from, due = w[i], KEYS[1], tonumber(w[i + 1])
    end
    if j <= #l and tonumber(l[j + 1]) < due then
      id, from, due = l[j], KEYS[2], tonumber(l[j + 1])
    end
    if from == KEYS[6] then
      h = h + 2
    elseif from == KEYS[1] then
      i = i + 2
    else
      j = j + 2
    end
    looked = looked + 1
    local deliveries = parse_state(redis.call('HGET', KEYS[4], id))
    local payload = redis.call('HGET', KEYS[3], id)
    if not payload then
      -- no payload: nothing to deliver; drop what is left of the job
      leave(from, id)
      redis.call('HDEL', KEYS[4], id)
    elseif max_deliveries > 0 and deliveries >= max_deliveries then
      leave(from, id)
      redis.call('ZADD', KEYS[5], now, id)
      redis.call('HSET', KEYS[4], id, make_state(deliveries))
      died[#died + 1] = id
    else
      if from == KEYS[1] then
        leave(from, id)
      end
      redis.call('ZADD', KEYS[2], expires, id)
      deliveries = deliveries + 1
      redis.call('HSET', KEYS[4], id, make_state(deliveries, token))
      out[#out + 1] = id
      out[#out + 1] = payload
      out[#out + 1] = deliveries
      out[#out + 1] = string.format('%.0f', math.max(0, now - due))
      taken = taken + 1
    end
  end
  drop_ready(KEYS[6], (h - 1) / 2)
end
if #died > 0 then
  publish(ARGV[5], table.concat(died))
end
return out
