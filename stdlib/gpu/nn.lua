-- gpu.nn: models.
--   nn.mlp{inputs, hidden = {...}, outputs, activation = "relu", seed}
--   nn.load(path)            a model saved with model:save(path) (.gfmodel, hash-checked)
-- A model has id, inputs, outputs, hidden, parameters, activation and model:save(path).
local native = require "gpu.native"
return {
  mlp = native.nn_mlp,
  load = native.nn_load,
}
