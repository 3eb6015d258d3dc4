-- train.lua — stage 2: trains a model on each data set and passes model and data on.
local gpu = require "gpu"
local s = gpu.stage()
local m = gpu.nn.mlp{inputs = 8, hidden = {32}, outputs = 3, seed = 1}
local n = 0
while true do
  local item = s.input:get()
  if not item then break end
  local r = gpu.submit(gpu.training{model = m, data = item.data, epochs = 10}):await()
  s.output:put({i = item.i, model = r.model, data = item.data})
  n = n + 1
end
print(("train: %d models trained"):format(n))
