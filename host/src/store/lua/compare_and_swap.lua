-- Replaces KEYS[1] with ARGV[3] only if it still contains the expected value.
-- ARGV[1]: "1" when a current value is expected, "0" when the key must be absent.
-- ARGV[2]: the expected current value. ARGV[4]: time to live in ms, "0" for none.
-- Returns 1 when it replaced the value, 0 when the key held something else.
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current ~= ARGV[2] then
    return 0
  end
elseif current then
  return 0
end
if ARGV[4] ~= '0' then
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
else
  redis.call('SET', KEYS[1], ARGV[3])
end
return 1
