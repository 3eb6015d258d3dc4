-- evolutionary.lua — evolve an MLP's weights instead of following gradients. Each generation
-- evaluates the whole population at once: one batched GEMM per layer for every member.
local gpu  = require "gpu"
local nn   = require "gpu.nn"
local data = require "gpu.data"
local quick = arg[1] == "--quick"   -- small sizes, for the tests

local ds = data.blobs{samples = 600, features = 4, centers = 3, seed = 5}:standardize():split{train = 0.8, seed = 1}
local model = nn.mlp{inputs = 4, hidden = {8}, outputs = 3, activation = "tanh", seed = 2}

for _, selection in ipairs{"tournament", "roulette", "elitist"} do
  local r = gpu.submit(gpu.training{
    model = model, data = ds.train, epochs = quick and 3 or 40,   -- generations
    algorithm = gpu.evolutionary{population_size = 32, mutation_rate = 0.2, selection = selection},
  }):await()
  local test = gpu.submit(gpu.inference{model = r.model, data = ds.test}):await()
  print(("%-10s best loss %.3f → %.3f over %d generations, test accuracy %.3f"):format(
    selection, r.history[1].loss, r.metrics.loss, r.metrics.epochs, test.accuracy))
end
