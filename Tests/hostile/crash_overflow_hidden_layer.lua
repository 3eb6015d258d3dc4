-- expect: 1 nn.mlp: hidden must be a list of integers of at most
local gpu = require "gpu"
gpu.nn.mlp{inputs = 4, hidden = {1 << 62}, outputs = 2}
