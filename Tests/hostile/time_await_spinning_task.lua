-- expect: 3 limit exceeded
local gpu = require "gpu"
gpu.submit(function() while true do end end):await()
