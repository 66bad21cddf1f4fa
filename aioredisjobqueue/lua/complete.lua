-- complete: remove for good the jobs their tokens hold.
-- KEYS[1] locked zset, KEYS[2] payloads hash, KEYS[3] state hash
-- ARGV pairs: ARGV[2k-1] job id, ARGV[2k] token
-- returns an array with one integer per pair: 1 if removed, 0 if the token does not hold the job
local done = {}
for i = 1, #ARGV / 2 do
  local id = ARGV[2 * i - 1]
  if held_by(KEYS[3], id, ARGV[2 * i]) then
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
    done[i] = 1
  else
    done[i] = 0
  end
end
return done
