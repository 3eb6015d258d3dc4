-- expect: 3 sandbox: wall-time limit exceeded
local s = ("x"):rep(16000000)
local co = coroutine.create(function() while true do s:upper() end end)
print(coroutine.resume(co))
