-- expect: 3 sandbox: memory limit exceeded
local gpu = require "gpu"
local s = ("x"):rep(16000000)
local t = {}
for i = 1, 10 do t[i] = s end
print(gpu.submit(function() return t end):await())
