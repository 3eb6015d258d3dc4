-- expect: 3 sandbox: memory limit exceeded
local gpu = require "gpu"
local d = gpu.data.blobs{samples = 1000000, features = 1, centers = 100000}
local t = d:one_hot()
