-- The MLP training row on the user's path: `gpuflow run` of this script trains the suite's
-- network (64-128-64-10, ReLU, Adam 1e-3, batch 64) on the digits files that
-- scripts/peers/mlp_peers.py prepares, and prints "seconds<TAB>test_accuracy<TAB>epochs".
--   gpuflow run scripts/bench-lua/train_mlp.lua -- DIR EPOCHS
local gpu = require "gpu"
local dir, epochs = arg[1], tonumber(arg[2]) or 30
local train = gpu.data.npy(dir .. "/x_train.npy", {labels = dir .. "/y_train.npy"})
local test = gpu.data.npy(dir .. "/x_test.npy", {labels = dir .. "/y_test.npy"})
local model = gpu.nn.mlp{inputs = 64, hidden = {128, 64}, outputs = 10, activation = "relu", seed = 1}
local t0 = gpu.now()
local r = gpu.submit(gpu.training{model = model, data = train, epochs = epochs, batch_size = 64,
                                  algorithm = gpu.adam{learning_rate = 1e-3}}):await()
local seconds = gpu.now() - t0
local served = gpu.submit(gpu.inference{model = r.model, data = test, batch_size = 256}):await()
print(("%.6f\t%.6f\t%d"):format(seconds, served.accuracy, r.metrics.epochs))
