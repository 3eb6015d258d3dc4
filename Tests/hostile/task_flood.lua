-- expect: 3 sandbox: task limit exceeded
local gpu = require "gpu"
for i = 1, 1e6 do gpu.submit(function() end) end
