-- expect: 3 the task would need about
local gpu = require "gpu"
local ds = gpu.data.blobs{samples = 512, features = 1, centers = 2, seed = 1}
local m = gpu.nn.mlp{inputs = 1, hidden = {10}, outputs = 2, seed = 1}
gpu.submit(gpu.training{model = m, data = ds, epochs = 1, algorithm = gpu.evolutionary{population_size = 100000}}):await()
