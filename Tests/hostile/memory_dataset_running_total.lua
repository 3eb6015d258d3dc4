-- expect: 3 sandbox: memory limit exceeded
-- profile: sandbox_8mb.yaml
local gpu = require "gpu"
local ds = {}
for i = 1, 50 do ds[i] = gpu.data.blobs{samples = 20000, features = 20, seed = i} end
