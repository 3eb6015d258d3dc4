-- expect: 1 nested deeper than 64 levels
local gpu = require "gpu"
local t = {}
t.self = t
print(gpu.submit(function() return t end):await())
