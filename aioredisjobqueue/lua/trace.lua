-- trace: keep the trace context of a job in the queue, for the worker that will run it
-- (apart from the job's payload and identity; it expires by itself).
-- KEYS[1] payloads hash, KEYS[2] the job's trace string
-- ARGV[1] job id, ARGV[2] the trace context (JSON of its propagation headers),
-- ARGV[3] time to live in ms
-- returns 1 if kept, 0 if the job is not in the queue
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
