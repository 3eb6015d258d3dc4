-- expect: 3 the task would need about
local gpu = require "gpu"
local ds = gpu.data.blobs{samples = 300, features = 4, centers = 3, seed = 1}
local m = gpu.nn.mlp{inputs = 4, hidden = {16}, outputs = 3, seed = 1}
gpu.submit(gpu.inference{model = m, data = ds, stream = {requests = 10000000, arrival_rate = 1e7}}):await()
