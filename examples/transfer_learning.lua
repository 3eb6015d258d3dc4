-- transfer_learning.lua — train a base network, save it, then fine-tune only its last layer on a
-- related task, with early stopping, a cosine learning-rate schedule and gradient clipping.
local gpu  = require "gpu"
local nn   = require "gpu.nn"
local data = require "gpu.data"
local quick = arg[1] == "--quick"   -- small sizes, for the tests

-- A base task: 4 well-separated classes.
local base_data = data.blobs{samples = 800, features = 6, centers = 4, seed = 21}:standardize()
local base = nn.mlp{inputs = 6, hidden = {32, 32}, outputs = 4, activation = "relu", seed = 3}
local trained = gpu.submit(gpu.training{
  model = base, data = base_data, epochs = quick and 4 or 30, batch_size = 32,
  algorithm = gpu.adam{learning_rate = 0.01, weight_decay = 1e-4},
  validation_split = 0.2, early_stopping = {patience = 4, min_delta = 1e-4},
  schedule = {kind = "cosine", min_factor = 0.05}, gradient_clip = 5.0,
}, {name = "base"}):await()
print(("base: %d epochs (best %s, stopped early: %s), validation accuracy %.3f"):format(
  trained.metrics.epochs, tostring(trained.metrics.best_epoch), tostring(trained.metrics.stopped_early),
  trained.metrics.validation_accuracy))

local path = os.tmpname() .. ".gfmodel"
print("saved base model", trained.model:save(path))

-- A related task on the same features: fine-tune only the output layer of the saved model.
local new_data = data.blobs{samples = 400, features = 6, centers = 4, spread = 1.5, seed = 22}:standardize()
local parts = new_data:split{train = 0.75, seed = 2}
local tuned = gpu.submit(gpu.training{
  data = parts.train, epochs = quick and 3 or 25, batch_size = 32,
  algorithm = gpu.transfer{base_model = path, fine_tuning_layers = 1, freezing_strategy = "early_layers", learning_rate = 0.01},
}, {name = "fine-tune"}):await()
print(("fine-tuned from %s: layers %s frozen, train accuracy %.3f"):format(
  tuned.metrics.base_model, table.concat(tuned.metrics.frozen_layers, ","), tuned.metrics.accuracy))

local served = gpu.submit(gpu.inference{model = tuned.model, data = parts.test, batch_size = 64}):await()
print(("held-out accuracy after fine-tuning: %.3f"):format(served.accuracy))
os.remove(path)
