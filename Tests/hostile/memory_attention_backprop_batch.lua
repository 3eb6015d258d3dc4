-- expect: 3 the task would need about
-- memory_attention_scores.lua with the batch given to the algorithm instead of the task
-- (gpu.backprop's own batch_size wins): the estimate charges the batch the step trains at.
local gpu = require "gpu"
local nn = gpu.nn
local text = gpu.data.text("fixtures/words.txt", {level = "char", context = 256, stride = 1})
local lm = nn.sequential{data = text, seed = 1, nn.token_embedding{dims = 8}, nn.position_embedding{},
  nn.attention{heads = 4}, nn.linear{outputs = text.vocabulary_size}}
gpu.submit(gpu.training{model = lm, data = text, epochs = 1, batch_size = 1,
  algorithm = gpu.backprop{learning_rate = 0.01, batch_size = 64}}):await()
