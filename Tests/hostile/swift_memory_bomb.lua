-- expect: 3 sandbox: data.blobs needs
-- Swift arrays are not Lua heap: the binding checks the budget itself.
local gpu = require "gpu"
gpu.data.blobs{samples = 10000000, features = 100000}
