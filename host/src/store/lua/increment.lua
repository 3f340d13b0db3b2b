-- Adds ARGV[1] to the integer at KEYS[1] and returns the new value. A key that had no
-- time to live (because the increment created it) gets ARGV[2] ms in the same step.
local count = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return count
