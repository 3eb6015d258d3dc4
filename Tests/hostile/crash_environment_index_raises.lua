-- expect: 1 boom reset
local gpu = require "gpu"
local environment = {name = "walk", observations = 2, actions = 2, max_steps = 5,
  new = function() return setmetatable({}, {__index = function(_, k) error("boom " .. k) end}) end}
gpu.submit(gpu.training{model = gpu.nn.mlp{inputs = 2, outputs = 2}, environment = environment, algorithm = gpu.reinforcement{episodes = 2, parallel_episodes = 1}}):await()
