-- expect: 3 sandbox: memory limit exceeded
local gpu = require "gpu"
local s = ("x"):rep(8000000)
local hs = {}
for i = 1, 40 do hs[i] = gpu.submit(function() return s end) end
for i = 1, 40 do hs[i]:await() end
