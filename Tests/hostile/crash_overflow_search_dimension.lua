-- expect: 1 search.batch_size values must be whole numbers
local gpu = require "gpu"
local d = gpu.data.blobs{samples = 100, features = 2, centers = 2}
local m = gpu.nn.mlp{inputs = 2, hidden = {4}, outputs = 2}
gpu.submit(gpu.optimization{target = "throughput", model = m, data = d, budget = 2, training_epochs = 1, search = {batch_size = {2^62}}}):await()
