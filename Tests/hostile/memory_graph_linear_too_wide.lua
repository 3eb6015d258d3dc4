-- expect: 1 takes the model past 50000000 parameters
local gpu = require "gpu"
local nn = gpu.nn
nn.sequential{inputs = 1048576, nn.linear{outputs = 1048576}}
