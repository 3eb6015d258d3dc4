-- expect: 1 sandbox: model:save may only use files in the job's folder
local gpu = require "gpu"
gpu.nn.mlp{inputs = 2, outputs = 2}:save("/tmp/gpuflow-sandbox-escaped")
