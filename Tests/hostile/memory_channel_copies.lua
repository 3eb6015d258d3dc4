-- expect: 3 sandbox: memory limit exceeded
local gpu = require "gpu"
local c = gpu.channel("bomb", 1000000)
local s = ("x"):rep(16000000)
for i = 1, 60 do c:put(s) end
