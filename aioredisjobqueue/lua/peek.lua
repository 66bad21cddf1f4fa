-- peek: read the waiting jobs that come next, without taking them.
-- KEYS[1] waiting zset, KEYS[2] payloads hash, KEYS[3] ready list
-- ARGV[1] how many jobs at most
-- returns a flat array: job id, payload, time (µs, server clock) it is due, for each job
-- in the order it becomes due (the ready list and the waiting zset merged by that time, the
-- ready list first on a tie); an entry whose payload is gone (evicted) is left out
local count = tonumber(ARGV[1])
local r = ready_range(KEYS[3], 0, count - 1)
local w = redis.call('ZRANGE', KEYS[1], 0, count - 1, 'WITHSCORES')
local out = {}
local h, i = 1, 1
for _ = 1, count do
  local id, due
  if h <= #r and (i > #w or tonumber(r[h + 1]) <= tonumber(w[i + 1])) then
    id, due = r[h], string.format('%.0f', r[h + 1])
    h = h + 2
  elseif i <= #w then
    id, due = w[i], w[i + 1]
    i = i + 2
  else
    break
  end
  local payload = redis.call('HGET', KEYS[2], id)
  if payload then
    out[#out + 1] = id
    out[#out + 1] = payload
    out[#out + 1] = due
  end
end
return out
