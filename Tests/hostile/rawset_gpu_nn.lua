-- expect: 1 sandbox: gpu.nn is read-only (cannot set 'mlp')
local nn = require "gpu.nn"
rawset(nn, "mlp", print)
