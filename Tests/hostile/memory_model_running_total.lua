-- expect: 3 sandbox: memory limit exceeded
-- profile: sandbox_8mb.yaml
local gpu = require "gpu"
local ms = {}
for i = 1, 50 do ms[i] = gpu.nn.mlp{inputs = 300, hidden = {300}, outputs = 300} end
