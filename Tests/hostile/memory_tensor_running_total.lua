-- expect: 3 sandbox: memory limit exceeded
local gpu = require "gpu"
local ts = {}
for i = 1, 20 do ts[i] = gpu.tensor{shape = {15000000}} end
