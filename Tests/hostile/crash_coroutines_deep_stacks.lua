-- expect: 3 sandbox: memory limit exceeded
local cos = {}
for i = 1, 1e6 do
  local c = coroutine.create(function(n) local function f(k) if k == 0 then coroutine.yield() return 0 end return 1 + f(k - 1) end return f(n) end)
  coroutine.resume(c, 150)
  cos[i] = c
end
