-- expect: 1 gpu.channel: name is 12582913 bytes, at most 256
local gpu = require "gpu"
local base = string.rep("c", 12 << 20)
for i = 1, 100 do local c = gpu.channel(base .. i) end
