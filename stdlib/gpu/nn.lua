-- gpu.nn: models. nn.mlp{inputs, hidden = {...}, outputs, activation = "relu", seed}
local native = require "gpu.native"
return {
  mlp = native.nn_mlp,
}
