-- expect: 3 the task would need about
local gpu = require "gpu"
local nn = gpu.nn
local ds = gpu.data.blobs{samples = 512, features = 1, centers = 2, seed = 1}
local m = nn.sequential{inputs = 1, seed = 1, nn.linear{outputs = 10}, nn.relu{}, nn.linear{outputs = 2}}
gpu.submit(gpu.training{model = m, data = ds, epochs = 1, algorithm = gpu.evolutionary{population_size = 100000}}):await()
