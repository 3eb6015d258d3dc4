-- expect: 1 gpu.tensor: a list of 1099511627776 elements is more than
local gpu = require "gpu"
local t = table.move({1, 2, 3}, 1, 3, (1 << 40) - 2, {})
for i = 1, 40 do t[1 << i] = 1 end
t[1] = 1
gpu.tensor(t)
