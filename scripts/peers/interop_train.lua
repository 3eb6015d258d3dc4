-- The gpuflow side of the PyTorch round trip's reverse direction (scripts/peers/torch_interop_peers.py
-- read-gpuflow reads what this writes): a small network trained on iris, saved as a PyTorch
-- state dict (model:save_state_dict, nn.Sequential's names) and as gpuflow's own model file.
--   gpuflow run scripts/peers/interop_train.lua -- OUT_DIR
local gpu = require "gpu"
local nn = gpu.nn
local out = assert(arg[1], "usage: gpuflow run scripts/peers/interop_train.lua -- OUT_DIR")
local iris = gpu.data.csv(os.getenv("GPUFLOW_IRIS") or "../shared/data/iris.csv"):standardize()
local model = nn.sequential{data = iris, seed = 3, nn.linear{outputs = 16}, nn.relu{}, nn.linear{outputs = 3}}
local r = gpu.submit(gpu.training{model = model, data = iris, epochs = 40, batch_size = 16, seed = 3,
                                  algorithm = gpu.adam{learning_rate = 0.01}}):await()
r.model:save_state_dict(out .. "/gpuflow_iris.safetensors", {mapping = "sequential"})
r.model:save(out .. "/gpuflow_iris_model.safetensors")
print("trained", r.metrics.accuracy, r.model.id)
