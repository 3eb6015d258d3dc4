-- expect: 1 gpu.tensor: shape
local gpu = require "gpu"
gpu.tensor{shape = {10000000000, 10000000000}}
