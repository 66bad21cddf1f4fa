-- beat: a worker reports itself alive; its entry expires ARGV[2] ms later unless it beats again.
-- KEYS[1] workers zset, KEYS[2] the worker's hash
-- ARGV[1] worker id, ARGV[2] time to live in ms, ARGV[3], ARGV[4], ... field, value pairs
-- that replace the worker's hash (beat_at and expires_at, in µs by the server's clock, are
-- added); workers whose entries expired are dropped from the zset, and the zset itself
-- expires once no worker beats any more
-- returns the expiry of the entry, in µs by the server's clock
local now = now_us()
local ttl = tonumber(ARGV[2])
local expires = now + ttl * 1000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now))
redis.call('ZADD', KEYS[1], expires, ARGV[1])
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
redis.call('DEL', KEYS[2])
local fields = {}
for i = 3, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
fields[#fields + 1] = 'beat_at'
fields[#fields + 1] = string.format('%.0f', now)
fields[#fields + 1] = 'expires_at'
fields[#fields + 1] = string.format('%.0f', expires)
redis.call('HSET', KEYS[2], unpack(fields))
redis.call('PEXPIRE', KEYS[2], ttl)
return string.format('%.0f', expires)
