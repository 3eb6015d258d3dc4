-- expect: 3 sandbox: wall-time limit exceeded
local gpu = require "gpu"
local ds = gpu.data.blobs{samples = 20000, features = 64, centers = 4, seed = 1}
gpu.submit(gpu.training{model = gpu.nn.mlp{inputs = 64, hidden = {256, 256}, outputs = 4, seed = 1}, data = ds, epochs = 100000})
