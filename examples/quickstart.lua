-- quickstart.lua — DESIGN.md's sketch, runnable anywhere: generated data instead of a file.
local gpu  = require "gpu"
local nn   = require "gpu.nn"
local data = require "gpu.data"

local ds    = data.blobs{samples = 600, features = 4, centers = 3, seed = 1}:standardize():split{train = 0.8, seed = 1}
local model = nn.mlp{inputs = 4, hidden = {32, 32}, outputs = 3, activation = "relu", seed = 1}

local train = gpu.submit(gpu.training{
  model = model, data = ds.train, epochs = arg[1] == "--quick" and 3 or 20, batch_size = 32,
  algorithm = gpu.adam{learning_rate = 1e-3},
  memory_mb = 64, intensity = "moderate", priority = "high",
})
local trained = train:await()
print(("trained: loss %.3f, accuracy %.3f"):format(trained.metrics.loss, trained.metrics.accuracy))

local served = gpu.submit(gpu.inference{
  model = trained.model, data = ds.test, batch_size = 64,
  max_latency_ms = 5, min_throughput_per_sec = 10000,
}, {after = {train}}):await()
print(("served: accuracy %.3f, p99 %.3f ms, %.0f rows/s"):format(served.accuracy, served.latency_ms.p99, served.throughput_per_sec))

local tuned = gpu.submit(gpu.optimization{
  target = "latency", model = trained.model, strategy = "bayesian",
  constraints = {max_memory_mb = 32},
}):await()
print(("tuned: batch_size %d (p99 %.3f ms)"):format(tuned.best.batch_size, tuned.best.p99_latency_ms))

gpu.optimize_scheduling{{task = served, satisfaction = 0.8, suggestions = {"increase batch size"}}}
for _, i in ipairs(gpu.insights()) do print(i.category, ("%.2f"):format(i.confidence), i.description) end
print(gpu.metrics.report())
