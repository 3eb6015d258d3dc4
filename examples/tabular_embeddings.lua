-- tabular_embeddings.lua — a residual network with embeddings, layer norm and dropout on a real
-- CSV with categorical columns (Palmer penguins: island and sex are text, 11 rows have NA):
--   1. read the CSV (text columns become categorical codes; rows with missing cells dropped),
--   2. tune the architecture (width × dropout) with gpu.optimization: the builder is called
--      once per point, each candidate trains and is judged on a validation split,
--   3. train the best on the training rows and serve the held-out rows,
--   4. save the model as safetensors and load it back.
-- Replay the run bit for bit with `gpuflow replay last`.
--
-- Usage:
--   scripts/gpuflow run examples/tabular_embeddings.lua
--   scripts/gpuflow run examples/tabular_embeddings.lua -- --data FILE --label COLUMN --epochs N  (--quick: 8 epochs)
local gpu = require "gpu"
local nn, data = gpu.nn, gpu.data

local here = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./")
local opts = {data = here .. "../../shared/data/penguins.csv", label = "species", epochs = 40}
local i = 1
while i <= #arg do
  if arg[i] == "--quick" then opts.epochs, i = 8, i + 1 goto continue end
  local key, value = arg[i]:match("^%-%-([%w_]+)$"), arg[i + 1]
  if not key or value == nil then error(("bad option '%s' (expected --data FILE, --label COLUMN, --epochs N)"):format(arg[i])) end
  if key == "epochs" then
    opts.epochs = math.tointeger(tonumber(value)) or error(("--epochs needs an integer, got '%s'"):format(value))
  elseif key == "data" or key == "label" then
    opts[key] = value
  else
    error(("unknown option --%s"):format(key))
  end
  i = i + 2
  ::continue::
end

local raw = data.csv(opts.data, {label = opts.label, missing = "drop"})
local parts = raw:split{train = 0.85, test = 0.15, seed = 1}
-- Standardize with the training rows' statistics (categorical codes are left as they are).
local train = parts.train:standardize()
local test = parts.test:standardize{using = parts.train}
local categorical = {}
for name, c in pairs(raw.categories) do categorical[#categorical + 1] = ("%s (%d values)"):format(name, #c.values) end
table.sort(categorical)
print(("data: %s — %d train / %d test rows, %d features, categorical: %s"):format(
  raw.source, train.rows, test.rows, raw.cols, table.concat(categorical, ", ")))

local function build(width, p)
  return nn.sequential{data = train, seed = 1,
    nn.embedding{dims = 3},                              -- a 3-vector per island and per sex
    nn.linear{outputs = width}, nn.layer_norm{}, nn.gelu{}, nn.dropout{p = p},
    nn.residual{nn.linear{outputs = width}, nn.relu{}},
    nn.linear{outputs = raw.classes, name = "head"},
  }
end

local function fit(model, set, epochs)
  return gpu.submit(gpu.training{model = model, data = set, epochs = epochs, batch_size = 32,
                                 algorithm = gpu.adam{learning_rate = 0.01}}):await()
end

local function accuracy(model, set)
  return gpu.submit(gpu.inference{model = model, data = set, batch_size = 64}):await().accuracy
end

-- 2. Tune: gpu.optimization builds one candidate per (width, dropout), trains each briefly on
-- 80 % of the training rows and judges it by its accuracy on the other 20 %.
local search = gpu.submit(gpu.optimization{target = "accuracy", data = train, strategy = "grid", budget = 4, seed = 1,
  training_epochs = math.max(5, opts.epochs // 4),
  model = function(p) return build(p.width, p.dropout) end,
  search = {width = {16, 32}, dropout = {0, 0.2}, learning_rate = {0.01}}}):await()
for _, t in ipairs(search.trials) do
  print(("tune: width %d, dropout %.1f → validation accuracy %.3f"):format(t.width, t.dropout, t.accuracy))
end
local best = {width = search.best.width, p = search.best.dropout}
print(("best: width %d, dropout %.1f"):format(best.width, best.p))

-- 3. Train the best and serve the held-out rows.
local model = build(best.width, best.p)
print(tostring(model))
local trained = fit(model, train, opts.epochs)
print(("train: loss %.4f, accuracy %.3f after %d epochs in %.2f s (%.0f samples/s)"):format(
  trained.metrics.loss, trained.metrics.accuracy, trained.metrics.epochs, trained.metrics.seconds, trained.metrics.samples_per_sec))
local served = gpu.submit(gpu.inference{model = trained.model, data = test, batch_size = 64}):await()
print(("test: accuracy %.3f on %d rows, p99 latency %.2f ms per batch"):format(served.accuracy, served.rows, served.latency_ms.p99))

-- 4. Save as safetensors (any tool that reads safetensors gets the weights) and load it back.
local path = os.tmpname() .. ".safetensors"
trained.model:save(path)
local loaded = nn.load(path)
os.remove(path)
print(("saved and loaded: %s, same model %s, same test accuracy %s"):format(
  loaded.id, tostring(loaded.id == trained.model.id), tostring(accuracy(loaded, test) == served.accuracy)))
