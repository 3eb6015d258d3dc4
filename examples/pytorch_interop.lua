-- pytorch_interop.lua — a network trained in PyTorch, brought into gpuflow, fine-tuned on a
-- related task with its first layer frozen, scored as data scientists report, and sent back out
-- as a PyTorch state dict and an ONNX file.
--
-- examples/data/torch_iris_mlp.safetensors is PyTorch's state_dict of
--   nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 16), nn.GELU(), nn.LayerNorm(16), nn.Linear(16, 3))
-- trained on iris (scripts/peers/torch_interop_peers.py pretrain-iris). The related task: the
-- Palmer penguins' four measurements and species (examples/data/penguins_measurements.csv).
--   gpuflow run examples/pytorch_interop.lua [-- --quick] [-- --out DIR]
local gpu = require "gpu"
local nn, data = gpu.nn, gpu.data
local quick, out = false, nil
for i = 1, #arg do
  if arg[i] == "--quick" then quick = true elseif arg[i] == "--out" then out = arg[i + 1] end
end
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local pretrained = here .. "data/torch_iris_mlp.safetensors"

-- The architecture, layer for layer as PyTorch's nn.Sequential: mapping = "sequential" names
-- each layer by its position (0.weight, 2.weight, 4.weight, 5.weight), weights transposed.
local function architecture()
  return nn.sequential{inputs = 4, seed = 1,
    nn.linear{outputs = 16}, nn.relu{}, nn.linear{outputs = 16}, nn.gelu{}, nn.layer_norm{}, nn.linear{outputs = 3}}
end

local iris = data.csv(here .. "../../shared/data/iris.csv"):standardize()
local base = nn.load(pretrained, {model = architecture(), mapping = "sequential"})
print(("PyTorch's network in gpuflow: iris accuracy %.3f (PyTorch measured 1.000 on the same rows)"):format(base:predict(iris).accuracy))

-- Fine-tune on penguins: the first layer stays as PyTorch trained it, the rest learns.
local penguins = data.csv(here .. "data/penguins_measurements.csv", {label = "species"})
local parts = penguins:split{train = 0.7, seed = 1}
local train = parts.train:standardize()
local tuned = gpu.submit(gpu.training{
  model = architecture(), data = train, epochs = quick and 5 or 40, batch_size = 32, seed = 1,
  algorithm = gpu.transfer{base_model = pretrained, mapping = "sequential", learning_rate = 0.01},
  freeze = {"linear1"},
}, {name = "fine-tune"}):await()
print(("fine-tuned %d epochs with %s frozen: train accuracy %.3f"):format(
  tuned.metrics.epochs, table.concat(tuned.metrics.frozen_layers, ","), tuned.metrics.accuracy))

-- The held-out rows are raw: the model standardizes them with its training rows' statistics.
local p = tuned.model:predict(parts.test)
local m = p.metrics
print(("test: accuracy %.3f, macro F1 %.3f, ROC-AUC %s, log loss %.3f"):format(
  m.accuracy, m.f1_macro, m.roc_auc and ("%.3f"):format(m.roc_auc) or "unavailable", m.log_loss))
for _, name in ipairs(m.classes) do
  local c = m.per_class[name]
  print(("  %-10s precision %.3f recall %.3f f1 %.3f (%d rows)"):format(name, c.precision, c.recall, c.f1, c.support))
end
for i, row in ipairs(m.confusion_matrix) do print(("  %-10s %s"):format(m.classes[i], table.concat(row, " "))) end

-- One raw measurement row, by column name: a label and its probabilities.
local one = tuned.model:predict{{bill_length_mm = 46.5, bill_depth_mm = 17.9, flipper_length_mm = 192, body_mass_g = 3500}}
print(("a 46.5 mm bill, 192 mm flipper: %s (p = %.3f)"):format(one.labels[1], one.probabilities[1][one.predictions[1] + 1]))

print(("all %d rows, raw: accuracy %.4f"):format(penguins.rows, tuned.model:predict(penguins).accuracy))

local dir = out or os.tmpname() .. "-interop"
if not out then os.execute("mkdir -p " .. dir) end
tuned.model:save_state_dict(dir .. "/penguins.safetensors", {mapping = "sequential"})  -- torch.load_state_dict reads it
tuned.model:export_onnx(dir .. "/penguins.onnx")                                        -- onnxruntime runs it on raw rows
print("wrote " .. dir .. "/penguins.safetensors and penguins.onnx")
if not out then os.remove(dir .. "/penguins.safetensors"); os.remove(dir .. "/penguins.onnx"); os.remove(dir) end
