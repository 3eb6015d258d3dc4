-- expect: 3 sandbox: memory limit exceeded
local gpu = require "gpu"
local t = {}
for i = 1, 3000000 do t[i] = i end
print(gpu.submit(function() return t end):await())
