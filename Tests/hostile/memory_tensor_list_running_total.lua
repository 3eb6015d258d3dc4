-- expect: 3 sandbox: memory limit exceeded
local gpu = require "gpu"
local ts, list = {}, {}
for i = 1, 400000 do list[i] = i end
for i = 1, 200 do ts[i] = gpu.tensor(list) end
