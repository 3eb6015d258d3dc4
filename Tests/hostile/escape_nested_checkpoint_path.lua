-- expect: 1 sandbox: checkpoint_path may only use files in the job's folder
local gpu = require "gpu"
local d = gpu.data.blobs{samples = 64, features = 2, centers = 2}
local m = gpu.nn.mlp{inputs = 2, hidden = {4}, outputs = 2}
local inner = gpu.training{model = m, data = d, epochs = 2, checkpoint_every = 1, checkpoint_path = "/tmp/gpuflow-sandbox-escaped"}
gpu.submit(gpu.hybrid_compute{task = inner, fallback = "simd", primary_backend = "simd"}):await()
