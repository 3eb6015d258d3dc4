-- expect: 3 the task would need about
-- A small model whose attention scores are large: 4 heads × 256² per sample, 64 samples a
-- step, held by the tape with their gradients (≈ 134 MB) under a 64 MB budget. The estimate
-- charged at submission counts every value the graph computes per sample.
local gpu = require "gpu"
local nn = gpu.nn
local text = gpu.data.text("fixtures/words.txt", {level = "char", context = 256, stride = 1})
local lm = nn.sequential{data = text, seed = 1, nn.token_embedding{dims = 8}, nn.position_embedding{},
  nn.attention{heads = 4}, nn.linear{outputs = text.vocabulary_size}}
gpu.submit(gpu.training{model = lm, data = text, epochs = 1, batch_size = 64}):await()
