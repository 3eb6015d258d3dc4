-- expect: 1 data has no rows to serve
local gpu = require "gpu"
local ds = gpu.data.blobs{samples = 2, features = 4, centers = 2, seed = 1}
local p = ds:split{train = 0.99, validation = 0.005, seed = 1}
local m = gpu.nn.mlp{inputs = 4, hidden = {4}, outputs = 2, seed = 1}
gpu.submit(gpu.inference{model = m, data = p.validation, stream = {requests = 10}}):await()
