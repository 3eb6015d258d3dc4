-- expect: 3 sandbox: memory limit exceeded
local gpu = require "gpu"
local t = gpu.tensor{shape = {14000000}}
local a = t:to_table()
