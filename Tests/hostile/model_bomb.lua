-- expect: 3 sandbox: nn.mlp needs
local gpu = require "gpu"
gpu.nn.mlp{inputs = 4096, hidden = {4096, 2048}, outputs = 10}
