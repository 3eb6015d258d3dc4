-- The graph-model training row on the user's path: `gpuflow run` of this script trains the
-- residual network with embeddings of examples/tabular_embeddings.lua (width 32, dropout 0.1,
-- Adam 0.01, batch 32) on the files scripts/peers/tabular_peers.py prepares, and prints
-- "seconds<TAB>test_accuracy<TAB>epochs".
--   gpuflow run scripts/bench-lua/train_tabular.lua -- DIR EPOCHS
local gpu = require "gpu"
local nn = gpu.nn
local dir, epochs = arg[1], tonumber(arg[2]) or 40
local raw_train = gpu.data.csv(dir .. "/train.csv", {label = "species"})
local raw_test = gpu.data.csv(dir .. "/test.csv", {label = "species"})
for name, c in pairs(raw_train.categories) do  -- the same codes in both files, or the test means nothing
  local other = raw_test.categories[name]
  assert(other and table.concat(other.values, ",") == table.concat(c.values, ","), "the files code " .. name .. " differently")
end
assert(table.concat(raw_train.class_names, ",") == table.concat(raw_test.class_names, ","), "the files name the classes differently")
local train = raw_train:standardize()
local test = raw_test:standardize{using = raw_train}
local model = nn.sequential{data = train, seed = 1,
  nn.embedding{dims = 3},
  nn.linear{outputs = 32}, nn.layer_norm{}, nn.gelu{}, nn.dropout{p = 0.1},
  nn.residual{nn.linear{outputs = 32}, nn.relu{}},
  nn.linear{outputs = raw_train.classes, name = "head"},
}
local t0 = gpu.now()
local r = gpu.submit(gpu.training{model = model, data = train, epochs = epochs, batch_size = 32,
                                  algorithm = gpu.adam{learning_rate = 0.01}}):await()
local seconds = gpu.now() - t0
local served = gpu.submit(gpu.inference{model = r.model, data = test, batch_size = 256}):await()
print(("%.6f\t%.6f\t%d"):format(seconds, served.accuracy, r.metrics.epochs))
