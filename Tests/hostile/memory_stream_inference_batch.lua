-- expect: 3 the task would need about
local gpu = require "gpu"
local ds = gpu.data.blobs{samples = 10, features = 5000, centers = 2, seed = 1}
local m = gpu.nn.mlp{inputs = 5000, hidden = {4}, outputs = 2, seed = 1}
gpu.submit(gpu.inference{model = m, data = ds, batch_size = 100000, max_latency_ms = 1e9, stream = {requests = 100000, arrival_rate = 1e7}}):await()
