-- train_infer_optimize.lua — the whole story in one script:
--   1. train an MLP (Adam) on a data set,
--   2. run inference on held-out rows under a latency/throughput SLO,
--   3. search the serving batch size for the best throughput under a memory cap,
--   4. feed judgements of those results back to the scheduler and print what it learned.
--
-- Usage:
--   scripts/gpuflow run examples/train_infer_optimize.lua                         (generated spirals)
--   scripts/gpuflow run examples/train_infer_optimize.lua -- --data ../shared/data/iris.csv
--   options after --: --data FILE  --label COLUMN  --epochs N  --hidden N  --batch N  --quick (small sizes)
local gpu  = require "gpu"
local nn   = require "gpu.nn"
local data = require "gpu.data"

-- Command-line options (arg holds what follows "--").
local opts = {epochs = 60, hidden = 32, batch = 16}
local i = 1
while i <= #arg do
  if arg[i] == "--quick" then opts.epochs, opts.quick, i = 5, true, i + 1 goto continue end
  local key, value = arg[i]:match("^%-%-([%w_]+)$"), arg[i + 1]
  if not key or value == nil then error(("bad option '%s' (expected --data FILE, --label COLUMN, --epochs N, --hidden N, --batch N)"):format(arg[i])) end
  if key == "epochs" or key == "hidden" or key == "batch" then
    opts[key] = math.tointeger(tonumber(value)) or error(("--%s needs an integer, got '%s'"):format(key, value))
  elseif key == "data" or key == "label" then
    opts[key] = value
  else
    error(("unknown option --%s"):format(key))
  end
  i = i + 2
  ::continue::
end

local raw
if opts.data then
  raw = data.csv(opts.data, {label = opts.label})
else
  raw = data.spirals{samples = 600, classes = 3, noise = 0.05, seed = 7}
end
local parts = raw:split{train = 0.8, seed = 1}
-- Standardize with the training rows' statistics only, so nothing leaks from the test rows.
local train_set = parts.train:standardize()
local test_set = parts.test:standardize{using = parts.train}
print(("data: %s — %d train / %d test rows, %d features, %d classes"):format(
  raw.source, train_set.rows, test_set.rows, raw.cols, raw.classes))

local model = nn.mlp{inputs = raw.cols, hidden = {opts.hidden, opts.hidden}, outputs = raw.classes,
                     activation = "relu", seed = 1}

-- 1. Train.
local train = gpu.submit(gpu.training{
  model = model, data = train_set, epochs = opts.epochs, batch_size = opts.batch,
  algorithm = gpu.adam{learning_rate = 0.01},
  memory_requirement_mb = 64, intensity = "moderate", priority = "high", duration_estimate = 2.0,
}, {name = "train"})
local trained = train:await()
print(("train: loss %.4f, accuracy %.2f%% after %d epochs in %.2f s (%.0f samples/s)"):format(
  trained.metrics.loss, 100 * trained.metrics.accuracy, trained.metrics.epochs,
  trained.metrics.seconds, trained.metrics.samples_per_sec))

-- 2. Infer on held-out rows, after training, under a service-level objective.
local served = gpu.submit(gpu.inference{
  model = trained.model, data = test_set, batch_size = 64,
  max_latency_ms = 5, min_throughput_per_sec = 10000,
}, {after = {train}, name = "serve"}):await()
print(("inference: test accuracy %.2f%%, latency p50 %.3f ms / p99 %.3f ms, throughput %.0f rows/s (SLO latency %s, throughput %s)"):format(
  100 * served.accuracy, served.latency_ms.p50, served.latency_ms.p99, served.throughput_per_sec,
  served.slo.latency_met and "met" or "missed", served.slo.throughput_met and "met" or "missed"))

-- 3. Optimize the serving batch size for throughput under a memory cap.
local tuned = gpu.submit(gpu.optimization{
  target = "throughput", model = trained.model, data = test_set, strategy = "bayesian", budget = 6,
  constraints = {max_memory_mb = 32},
}, {name = "tune"}):await()
if tuned.best then
  print(("optimization: chose batch_size %d — %.0f rows/s, p99 %.3f ms, %.3f MB of tensors (%d configurations measured, %s)"):format(
    tuned.best.batch_size, tuned.best.throughput_per_sec, tuned.best.p99_latency_ms, tuned.best.memory_mb,
    tuned.evaluations, tuned.strategy))
else
  print("optimization: no configuration met the constraints")
end

-- 4. Feedback: judge the results, and let the scheduler learn from them.
local satisfaction = served.slo.latency_met and served.slo.throughput_met and 0.9 or 0.4
gpu.optimize_scheduling{
  {task = served, satisfaction = satisfaction, suggestions = {"increase batch size"}},
  {task = tuned, satisfaction = tuned.best and 0.8 or 0.2},
  {task = trained, satisfaction = trained.metrics.accuracy > 0.9 and 0.9 or 0.3},
}
print("insights:")
for _, insight in ipairs(gpu.insights()) do
  print(("  [%s %.2f] %s"):format(insight.category, insight.confidence, insight.description))
end
print(gpu.metrics.report())
