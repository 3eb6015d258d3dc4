-- expect: 3 sandbox: memory limit exceeded
local gpu = require "gpu"
print(pcall(gpu.tensor, {shape = {30000000}}))
print("still here")
