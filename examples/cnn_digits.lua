-- cnn_digits.lua — a small convolutional network on the 8×8 handwritten digits (the 1,797 images
-- scikit-learn ships as load_digits, exported to examples/data/digits.csv by
-- scripts/peers/export_digits.py):
--   1. read the CSV and see each row of 64 pixels as a 1×8×8 image,
--   2. search the convolution's width with gpu.optimization (one candidate per width),
--   3. train the best, serve the held-out images under a latency SLO.
-- Replay the run bit for bit with `gpuflow replay last`.
--
-- Usage:
--   scripts/gpuflow run examples/cnn_digits.lua                 (-- --quick: fewer epochs and images)
--   scripts/gpuflow run examples/cnn_digits.lua -- --idx examples/data/digits-idx
--     an MNIST-format IDX set instead: DIR/train-images-idx3-ubyte, train-labels-idx1-ubyte and
--     t10k-* for the test images, MNIST's own names (digits-idx holds the same digits, written by
--     scripts/peers/export_idx.py; MNIST itself, unpacked into a folder, runs the same way)
local gpu = require "gpu"
local nn, data = gpu.nn, gpu.data

local quick, idx = false, nil
local i = 1
while i <= #arg do
  if arg[i] == "--quick" then quick, i = true, i + 1
  elseif arg[i] == "--idx" and arg[i + 1] then idx, i = arg[i + 1], i + 2
  else error(("bad option '%s' (expected --quick, --idx DIR)"):format(arg[i])) end
end

local here = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./")
local raw, parts
if idx then
  local function set(prefix)
    return data.idx{images = ("%s/%s-images-idx3-ubyte"):format(idx, prefix), labels = ("%s/%s-labels-idx1-ubyte"):format(idx, prefix)}
  end
  raw = set("train")
  parts = {train = raw, test = set("t10k")}
  if quick then parts.train, parts.test = raw:split{train = 0.1, rest = 0.9, seed = 1}.train, parts.test:split{test = 0.2, rest = 0.8, seed = 1}.test end
else
  -- The CSV's rows of 64 pixels, seen as 1×8×8 images after standardizing.
  raw = data.csv(here .. "data/digits.csv", {label = "digit"})
  parts = quick and raw:split{train = 0.1, test = 0.1, rest = 0.8, seed = 1} or raw:split{train = 0.8, test = 0.2, seed = 1}
end
-- Standardized per pixel with the training images' statistics.
local train, test = parts.train:standardize(), parts.test:standardize{using = parts.train}
if not idx then train, test = train:reshape{1, 8, 8}, test:reshape{1, 8, 8} end
print(("data: %s — %d training / %d test images of %s, %d classes"):format(
  raw.source, train.rows, test.rows, table.concat(train.shape, "×"), raw.classes))

local function build(width)
  return nn.sequential{data = train, seed = 1,
    nn.conv2d{outputs = width, kernel = 3, padding = 1}, nn.relu{}, nn.max_pool2d{kernel = 2},
    nn.conv2d{outputs = 2 * width, kernel = 3, padding = 1}, nn.relu{}, nn.flatten{},
    nn.linear{outputs = raw.classes, name = "head"},
  }
end

-- 2. The width: each candidate trains briefly on 80 % of the training images, judged on the rest.
local search = gpu.submit(gpu.optimization{target = "accuracy", data = train, budget = 2, seed = 1,
  training_epochs = quick and 1 or 8, model = function(p) return build(p.width) end,
  search = {width = {4, 8}, learning_rate = {0.02}}}):await()
for _, t in ipairs(search.trials) do print(("search: width %d → validation accuracy %.3f"):format(t.width, t.accuracy)) end

-- 3. Train the best and serve the test images. (Seeded crops, augment = {crop_padding = 1}, cost
--    these 8×8 digits accuracy: a shift of one pixel is an eighth of the image.)
local model = build(search.best.width)
print(tostring(model))
local trained = gpu.submit(gpu.training{model = model, data = train, epochs = quick and 2 or 30, batch_size = 32,
  algorithm = gpu.adam{learning_rate = 0.02}}):await()
print(("train: loss %.4f, accuracy %.3f after %d epochs in %.2f s (%.0f images/s)"):format(
  trained.metrics.loss, trained.metrics.accuracy, trained.metrics.epochs, trained.metrics.seconds, trained.metrics.samples_per_sec))
local served = gpu.submit(gpu.inference{model = trained.model, data = test, batch_size = 64, max_latency_ms = 50}):await()
print(("test: accuracy %.3f on %d images, p99 latency %.2f ms per batch of 64 (SLO 50 ms met: %s)"):format(
  served.accuracy, served.rows, served.latency_ms.p99, tostring(served.slo.latency_met)))
