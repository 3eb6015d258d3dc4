-- expect: 1 attempt to index a nil value (local 'real')
local _, real = pairs(os)
real.date = function() return "fake" end
