-- expect: 1 attempt to index a string value
local t = require("gpu").tensor{1, 2, 3}
local mt = getmetatable(t)
mt.__gpuflow = nil
setmetatable(mt, {__index = function() error("x") end})
return t
