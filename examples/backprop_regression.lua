-- backprop_regression.lua — the Backpropagation algorithm (SGD with momentum) on a regression:
-- one output, mean squared error, a step learning-rate schedule.
local gpu  = require "gpu"
local nn   = require "gpu.nn"
local data = require "gpu.data"
local quick = arg[1] == "--quick"

-- y = sin(x1) + 0.5·x2, sampled on a grid.
local features, labels = {}, {}
for i = 1, 400 do
  local x1, x2 = (i % 20) / 20 * 6 - 3, (i // 20) / 20 * 2 - 1
  features[i] = {x1, x2}
  labels[i] = math.sin(x1) + 0.5 * x2
end
local ds = data.from_table{features = features, labels = labels}:split{train = 0.8, seed = 1}
local model = nn.mlp{inputs = 2, hidden = {32, 32}, outputs = 1, activation = "tanh", seed = 4}
local r = gpu.submit(gpu.training{
  model = model, data = ds.train, loss = "mse", epochs = quick and 5 or 150, batch_size = 16,
  algorithm = gpu.backprop{learning_rate = 0.02, momentum = 0.9},
  schedule = {kind = "step", every = 50, gamma = 0.5},
}):await()
print(("mse: epoch 1 %.4f → epoch %d %.4f"):format(r.history[1].loss, r.metrics.epochs, r.metrics.loss))
local p = gpu.submit(gpu.inference{model = r.model, data = ds.test}):await()
local err = 0
local truth = ds.test.labels
for i = 1, #p.predictions do err = err + (p.predictions[i] - truth[i]) ^ 2 end
print(("held-out mse %.4f over %d rows"):format(err / #p.predictions, #p.predictions))
