-- expect: 1 attempt to index a string value
local gpu = require "gpu"
local mt = getmetatable(gpu.tensor{1})
mt.__gc = function() while true do end end
for i = 1, 10 do local t = gpu.tensor{i} end
collectgarbage()
