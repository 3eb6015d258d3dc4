-- expect: 1 suggestions are at most 32 strings of at most 1024 bytes
local gpu = require "gpu"
local h = gpu.submit(function() return 1 end)
h:await()
local s = string.rep("s", 12 << 20)
for i = 1, 60 do gpu.optimize_scheduling{{task = h, satisfaction = 0.5, suggestions = {s}}} end
