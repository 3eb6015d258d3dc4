-- expect: 3 sandbox: task limit exceeded (50 tasks)
local gpu = require "gpu"
local g = {}
for i = 1, 5000 do g[i] = {key = "k" .. i, task = function() end} end
gpu.submit_graph(g)
