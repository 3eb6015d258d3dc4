-- expect: 1 size must be at most
local gpu = require "gpu"
gpu.submit(gpu.memory_management{operation = "allocate", size = math.maxinteger})
