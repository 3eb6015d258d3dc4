-- expect: 1 nested deeper than 64 levels
local gpu = require "gpu"
local t = {}
local cur = t
for i = 1, 10000 do cur[1] = {} cur = cur[1] end
print(gpu.submit(function() return t end):await())
