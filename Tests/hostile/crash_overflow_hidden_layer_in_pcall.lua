-- expect: 0
local gpu = require "gpu"
print(pcall(gpu.nn.mlp, {inputs = 4, hidden = {1 << 62}, outputs = 2}))
