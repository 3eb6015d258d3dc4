-- expect: 1 attempt to index a nil value (local 'real')
local gpu = require "gpu"
local _, real = pairs(gpu)
real.submit = function() return "hijacked" end
