-- The run store's cost on training: many short epochs (the case where a checkpoint and a
-- metrics transaction per epoch made training with the store 2.5–4× slower than without).
-- Prints "seconds<TAB>final_loss".   gpuflow run scripts/bench-lua/train_store.lua -- EPOCHS
local gpu = require "gpu"
local epochs = tonumber(arg[1]) or 2000
local d = gpu.data.blobs{samples = 256, features = 8, centers = 3, seed = 5}:standardize()
local m = gpu.nn.mlp{inputs = 8, hidden = {32}, outputs = 3, seed = 1}
local t0 = gpu.now()
local r = gpu.submit(gpu.training{model = m, data = d, epochs = epochs, batch_size = 64}):await()
print(("%.6f\t%.6f"):format(gpu.now() - t0, r.metrics.loss))
