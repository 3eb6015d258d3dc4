-- The CNN training row on the user's path: `gpuflow run` of this script trains the network of
-- examples/cnn_digits.lua (two 3×3 convolutions of WIDTH and 2·WIDTH channels, a 2×2 max
-- pool, a linear head; Adam 0.02, batch 32) on the files scripts/peers/image_text_peers.py
-- prepares, and prints "seconds<TAB>test_accuracy<TAB>images_per_sec".
--   gpuflow run scripts/bench-lua/train_cnn.lua -- DIR EPOCHS WIDTH
local gpu = require "gpu"
local nn = gpu.nn
local dir, epochs, width = arg[1], tonumber(arg[2]) or 10, tonumber(arg[3]) or 8
local raw_train = gpu.data.csv(dir .. "/train.csv", {label = "digit"})
local raw_test = gpu.data.csv(dir .. "/test.csv", {label = "digit"})
local train = raw_train:standardize():reshape{1, 8, 8}
local test = raw_test:standardize{using = raw_train}:reshape{1, 8, 8}
local model = nn.sequential{data = train, seed = 1,
  nn.conv2d{outputs = width, kernel = 3, padding = 1}, nn.relu{}, nn.max_pool2d{kernel = 2},
  nn.conv2d{outputs = 2 * width, kernel = 3, padding = 1}, nn.relu{}, nn.flatten{},
  nn.linear{outputs = 10, name = "head"},
}
local t0 = gpu.now()
local r = gpu.submit(gpu.training{model = model, data = train, epochs = epochs, batch_size = 32,
                                  algorithm = gpu.adam{learning_rate = 0.02}}):await()
local seconds = gpu.now() - t0
local served = gpu.submit(gpu.inference{model = r.model, data = test, batch_size = 256}):await()
print(("%.6f\t%.6f\t%.1f"):format(seconds, served.accuracy, train.rows * epochs / seconds))
