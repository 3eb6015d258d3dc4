-- expect: 1 attempt to index a string value
local gpu = require "gpu"
local t = gpu.tensor{1, 2, 3}
local mt = getmetatable(t)
mt.__gpuflow = nil
setmetatable(mt, {__index = function(_, k) error("raised inside a binding") end})
print(pcall(function() return t:size() end))
local keep, kb = {}, ("x"):rep(1024)
for i = 1, 80 do keep[i] = kb:rep(15 * 1024) end
