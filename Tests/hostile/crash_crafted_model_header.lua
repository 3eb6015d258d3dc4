-- expect: 2 weights of layer 1 run past the end of the file
local gpu = require "gpu"
gpu.nn.load("fixtures/evil.gfmodel")
