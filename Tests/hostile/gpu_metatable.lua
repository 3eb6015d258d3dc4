-- expect: 1 cannot change a protected metatable
local gpu = require "gpu"
setmetatable(gpu, {__index = function() return print end})
