-- slurm_workflow.lua — train → infer → optimize as stages, plus a learning-rate sweep, written
-- so that it runs the same way on one machine and on a Slurm cluster:
--
--   scripts/gpuflow run examples/slurm_workflow.lua                 (every stage here, in order)
--   gpuflow run examples/slurm_workflow.lua --plan                  (the stage graph, nothing runs)
--   gpuflow submit examples/slurm_workflow.lua --slurm --dry-run    (the batch scripts)
--   gpuflow submit examples/slurm_workflow.lua --slurm --partition gpu --time 00:20:00
--
-- Each stage's result (models, data sets, tables) is what the next stages take as inputs; on a
-- cluster each stage is a Slurm job that waits for its inputs' jobs, and the sweep is a job
-- array. Code outside stages only wires them together: in plan mode stages return placeholders.
-- Options after --: --data FILE, --epochs N, --quick (3 epochs).
local gpu = require "gpu"
local workflow = require "workflow"

local opts = {epochs = 20}
local i = 1
while i <= #arg do
  if arg[i] == "--quick" then opts.epochs, i = 3, i + 1 goto continue end
  local key, value = arg[i]:match("^%-%-([%w_-]+)$"), arg[i + 1]
  if not key or value == nil then error(("bad option '%s' (expected --data FILE, --epochs N, --quick)"):format(arg[i])) end
  if key == "epochs" then opts.epochs = math.tointeger(tonumber(value)) or error("--epochs needs an integer")
  elseif key == "data" then opts.data = value
  else error(("unknown option --%s"):format(key)) end
  i = i + 2
  ::continue::
end

local prepared = workflow.stage("prepare", {opts.data or ""}, function(path)
  local raw = path ~= "" and gpu.data.csv(path) or gpu.data.spirals{samples = 600, classes = 3, noise = 0.05, seed = 7}
  local parts = raw:split{train = 0.8, seed = 1}
  return {train = parts.train:standardize(), test = parts.test:standardize{using = parts.train}}
end, {gpus = 0, time = 5})

local trained = workflow.stage("train", {prepared, opts.epochs}, function(d, epochs)
  local model = gpu.nn.mlp{inputs = d.train.cols, hidden = {32, 32}, outputs = d.train.classes, seed = 1}
  local r = gpu.submit(gpu.training{model = model, data = d.train, epochs = epochs, batch_size = 16,
                                    algorithm = gpu.adam{learning_rate = 0.01}}):await()
  print(("train: loss %.4f, accuracy %.2f%%"):format(r.metrics.loss, 100 * r.metrics.accuracy))
  return {model = r.model, loss = r.metrics.loss, accuracy = r.metrics.accuracy}
end, {gpus = 1, memory = "2G", time = "00:20:00"})

local inferred = workflow.stage("infer", {trained.model, prepared.test}, function(model, test)
  local r = gpu.submit(gpu.inference{model = model, data = test, batch_size = 64}):await()
  print(("infer: test accuracy %.2f%%, p99 %.3f ms"):format(100 * r.accuracy, r.latency_ms.p99))
  return {accuracy = r.accuracy, p99_ms = r.latency_ms.p99}
end, {gpus = 1})

-- The sweep: fine-tune the trained model at three learning rates, as one job array.
local tuned = workflow.sweep("finetune", {values = {0.001, 0.003, 0.01}, inputs = {trained.model, prepared}, throttle = 2,
                                          gpus = 1, time = 10},
  function(lr, model, d)
    local r = gpu.submit(gpu.training{model = model, data = d.train, epochs = 3, batch_size = 16,
                                      algorithm = gpu.adam{learning_rate = lr}}):await()
    local test = gpu.submit(gpu.inference{model = r.model, data = d.test}):await()
    return {learning_rate = lr, loss = r.metrics.loss, accuracy = test.accuracy}
  end)

local optimized = workflow.stage("optimize", {trained.model, prepared.test, inferred, tuned}, function(model, test, served, sweep)
  local r = gpu.submit(gpu.optimization{target = "throughput", model = model, data = test, strategy = "grid", budget = 4,
                                        constraints = {max_memory_mb = 32}}):await()
  local best = sweep[1]
  for _, s in ipairs(sweep) do if s.accuracy > best.accuracy then best = s end end
  print(("optimize: batch %d at %.0f rows/s; best fine-tune lr %g (accuracy %.2f%%); served accuracy %.2f%%"):format(
    r.best and r.best.batch_size or 0, r.best and r.best.throughput_per_sec or 0, best.learning_rate, 100 * best.accuracy,
    100 * served.accuracy))
  return {batch_size = r.best and r.best.batch_size or 0, best_learning_rate = best.learning_rate, accuracy = served.accuracy}
end, {gpus = 0})

print(("workflow: %s"):format(tostring(optimized.batch_size)))
