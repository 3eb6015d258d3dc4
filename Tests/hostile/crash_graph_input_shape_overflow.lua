-- expect: 1 holds more than the 2^26 values this version takes
local gpu = require "gpu"
local nn = gpu.nn
nn.sequential{inputs = {65536, 65536, 65536, 65536}, nn.flatten{}}
