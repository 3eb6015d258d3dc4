-- expect: 3 sandbox: memory limit exceeded
local gpu = require "gpu"
gpu.data.blobs{centers = 1e5, features = 1e5}
