-- The transformer row on the user's path: `gpuflow run` of this script trains the model of
-- examples/char_transformer.lua at depth 1 (dims 32, 4 heads, context 64; Adam 0.01, batch
-- 32, gradient clip 1) on the first 90 % of TEXT's windows, scores the last 10 %, generates
-- 200 characters, and prints
-- "seconds<TAB>validation_loss<TAB>tokens_per_sec<TAB>generated_tokens_per_sec".
--   gpuflow run scripts/bench-lua/train_transformer.lua -- TEXT EPOCHS [SHARE]
-- SHARE: the share of the windows trained on (0.9; the next 0.1 is held out).
local gpu = require "gpu"
local nn = gpu.nn
local path, epochs, share = arg[1], tonumber(arg[2]) or 2, tonumber(arg[3]) or 0.9
local text = gpu.data.text(path, {level = "char", context = 64})
local parts = share < 0.9 and text:split{train = share, validation = 0.1, rest = 0.9 - share}
  or text:split{train = 0.9, validation = 0.1}
-- init = "pytorch": the linear layers start as PyTorch's nn.Linear does in the peer
-- (uniform ±1/√fan-in), so both sides train the same architecture from the same distribution.
local model = nn.sequential{data = parts.train, seed = 1,
  nn.token_embedding{dims = 32}, nn.position_embedding{}, nn.transformer_block{heads = 4, init = "pytorch"},
  nn.layer_norm{}, nn.linear{outputs = text.vocabulary_size, init = "pytorch"},
}
local t0 = gpu.now()
local r = gpu.submit(gpu.training{model = model, data = parts.train, epochs = epochs, batch_size = 32,
                                  algorithm = gpu.adam{learning_rate = 0.01}, gradient_clip = 1}):await()
local seconds = gpu.now() - t0
local scored = gpu.submit(gpu.inference{model = r.model, data = parts.validation, batch_size = 256}):await()
local g = gpu.submit(gpu.inference{model = r.model, prompt = "A man ", max_tokens = 200, temperature = 0.8, top_k = 10, seed = 1}):await()
print(("%.6f\t%.6f\t%.1f\t%.1f"):format(seconds, scored.loss, parts.train.rows * text.context * epochs / seconds, g.tokens_per_sec))
