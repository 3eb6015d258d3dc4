-- expect: 0
-- stdout: locked
local gpu = require "gpu"
print(getmetatable(gpu))
