-- expect: 3 the task would need about
-- A batch of one, but a validation split: validation is scored 256 windows a pass, whose
-- attention scores (4 heads × 256² each) the estimate charges too.
local gpu = require "gpu"
local nn = gpu.nn
local text = gpu.data.text("fixtures/words.txt", {level = "char", context = 256, stride = 4})
local lm = nn.sequential{data = text, seed = 1, nn.token_embedding{dims = 8}, nn.position_embedding{},
  nn.attention{heads = 4}, nn.linear{outputs = text.vocabulary_size}}
gpu.submit(gpu.training{model = lm, data = text, epochs = 1, batch_size = 1, validation_split = 0.5}):await()
