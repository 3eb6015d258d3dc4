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

-- Fitness from an environment instead of data: each member plays CartPole greedily; every step
-- is one batched forward pass over the whole population.
local policy = nn.mlp{inputs = 4, hidden = {8}, outputs = 2, activation = "tanh", seed = 1}
local r = gpu.submit(gpu.training{model = policy, environment = "cartpole", epochs = quick and 2 or 15, seed = 2,
  algorithm = gpu.evolutionary{population_size = 32, mutation_rate = 0.3, selection = "elitist"}}):await()
print(("cartpole: best return %.0f after %d generations (200 is the whole episode)"):format(r.metrics.best_return, r.metrics.generations))
