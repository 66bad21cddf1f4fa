-- page: read one page of a queue's jobs in one state, changing nothing.
-- KEYS[1] the state's zset (waiting, locked or dead), KEYS[2] payloads hash, KEYS[3] state
-- hash, KEYS[4] errors hash, KEYS[5] (with the waiting zset only) the ready list
-- ARGV[1] which part of the zset: 'due' (score <= now), 'later' (score > now) or 'all',
-- ARGV[2] index in that part of the page's first job (0-based), ARGV[3] how many jobs at most,
-- ARGV[4] how many bytes of each payload to return at most
-- returns a flat array: now (µs, server clock), how many jobs the part holds, then for each
-- job of the page, in score order: id, payload (cut to ARGV[4] bytes), the payload's length
-- in bytes, deliveries, score (µs), last error (nil: none), task name (nil: no task's job).
-- With the ready list, its jobs count as due and are merged with the zset's by time (the
-- ready list first on a tie), their score the time they became due.
-- Reads O(log² N + page size): ranks and a binary search, never a whole zset or list.
local now = string.format('%.0f', now_us())

-- The task of a typed task's job, {"args":{…},"task":NAME} or {…,"task":NAME,"tick":…} in
-- canonical JSON (sorted keys): read at the payload's end, so large arguments cost nothing.
local function task_of(payload)
  if string.sub(payload, 1, 9) ~= '{"args":{' then
    return false
  end
  local tail = string.sub(payload, -300)
  return string.match(tail, ',"task":"([^"\\]*)"}$')
    or string.match(tail, ',"task":"([^"\\]*)","tick":"[^"\\]*"}$')
    or false
end

-- the entries `start` to `start + count` (id, score, …) of the ready list merged with the
-- first `zsize` entries of the zset `zset`, by time, the ready list first on a tie
local function merged(ready, zset, zsize, start, count)
  -- x: how many of the merge's first `start` entries the list holds, the largest x whose
  -- last entry comes before the zset's entry `start - x` (binary search: O(log² N))
  local lo, hi = math.max(0, start - zsize), math.min(start, ready_count(ready))
  while lo < hi do
    local x = math.ceil((lo + hi) / 2)
    local y = start - x
    local before = y >= zsize
      or tonumber(ready_range(ready, x - 1, x - 1)[2])
        <= tonumber(redis.call('ZRANGE', zset, y, y, 'WITHSCORES')[2])
    if before then
      lo = x
    else
      hi = x - 1
    end
  end
  local y = start - lo
  local r = ready_range(ready, lo, lo + count - 1)
  local w = {}
  if y < zsize then
    w = redis.call('ZRANGE', zset, y, math.min(y + count, zsize) - 1, 'WITHSCORES')
  end
  local out, h, i = {}, 1, 1
  while #out < 2 * count and (h <= #r or i <= #w) do
    if h <= #r and (i > #w or tonumber(r[h + 1]) <= tonumber(w[i + 1])) then
      out[#out + 1] = r[h]
      out[#out + 1] = string.format('%.0f', r[h + 1])
      h = h + 2
    else
      out[#out + 1] = w[i]
      out[#out + 1] = w[i + 1]
      i = i + 2
    end
  end
  return out
end

local ready = KEYS[5]
local first = 0
local size = redis.call('ZCARD', KEYS[1])
local zsize = size
if ARGV[1] ~= 'all' then
  local due = redis.call('ZCOUNT', KEYS[1], '-inf', now)
  if ARGV[1] == 'due' then
    size, zsize = due, due
  else
    first, size = due, size - due
    ready = nil
  end
end
if ready then
  size = size + ready_count(ready)
end
local start = tonumber(ARGV[2])
local count = tonumber(ARGV[3])
local cut = tonumber(ARGV[4])
local out = {now, size}
if start >= size or count <= 0 then
  return out
end
local ids
if ready then
  ids = merged(ready, KEYS[1], zsize, start, count)
else
  local stop = math.min(start + count, size) - 1
  ids = redis.call('ZRANGE', KEYS[1], first + start, first + stop, 'WITHSCORES')
end
for i = 1, #ids, 2 do
  local id = ids[i]
  local payload = redis.call('HGET', KEYS[2], id) or ''
  out[#out + 1] = id
  out[#out + 1] = string.sub(payload, 1, cut)
  out[#out + 1] = string.len(payload)
  out[#out + 1] = (parse_state(redis.call('HGET', KEYS[3], id)))
  out[#out + 1] = ids[i + 1]
  out[#out + 1] = redis.call('HGET', KEYS[4], id)
  out[#out + 1] = task_of(payload)
end
return out
