-- page: read one page of a queue's jobs in one state, changing nothing.
-- KEYS[1] the state's zset (waiting, locked or dead), KEYS[2] payloads hash, KEYS[3] state
-- hash, KEYS[4] errors hash
-- ARGV[1] which part of the zset: 'due' (score <= now), 'later' (score > now) or 'all',
-- ARGV[2] index in that part of the page's first job (0-based), ARGV[3] how many jobs at most,
-- ARGV[4] how many bytes of each payload to return at most
-- returns a flat array: now (µs, server clock), how many jobs the part holds, then for each
-- job of the page, in score order: id, payload (cut to ARGV[4] bytes), the payload's length
-- in bytes, deliveries, score (µs), last error (nil: none), task name (nil: no task's job).
-- Reads O(log N + page size): ranks, never a whole zset.
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
local first = 0
local size = redis.call('ZCARD', KEYS[1])
if ARGV[1] ~= 'all' then
  local due = redis.call('ZCOUNT', KEYS[1], '-inf', now)
  if ARGV[1] == 'due' then
    size = due
  else
    first, size = due, size - due
  end
end
local start = tonumber(ARGV[2])
local count = tonumber(ARGV[3])
local cut = tonumber(ARGV[4])
local out = {now, size}
if start >= size or count <= 0 then
  return out
end
local stop = math.min(start + count, size) - 1
local ids = redis.call('ZRANGE', KEYS[1], first + start, first + stop, 'WITHSCORES')
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
