-- char_transformer.lua — a character-level transformer on real text: the fortunes of Debian's
-- fortunes-min package (fortune-mod, BSD licence; examples/data/fortunes.txt, written by
-- scripts/peers/export_fortunes.sh):
--   1. read the text as windows of 64 characters, each with the 64 that follow one position on,
--   2. search the depth (transformer blocks) and the learning rate with gpu.optimization,
--   3. train the best, report its validation loss and perplexity on held-out text,
--   4. generate text from a prompt (seeded: `gpuflow replay last` writes the same text).
--
-- Usage:
--   scripts/gpuflow run examples/char_transformer.lua          (-- --quick: a small model on 3 % of the text)
local gpu = require "gpu"
local nn, data = gpu.nn, gpu.data

local quick = arg[1] == "--quick"
local here = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./")
local text = data.text(here .. "data/fortunes.txt", {level = "char", context = quick and 32 or 64})
local dims = quick and 16 or 32
-- By position: the last 10 % of the text is never trained on.
local parts = quick and text:split{train = 0.03, validation = 0.01, rest = 0.96} or text:split{train = 0.9, validation = 0.1}
local train, held_out = parts.train, parts.validation
print(("data: %s — %d characters of vocabulary, %d training / %d held-out windows of %d"):format(
  text.source, text.vocabulary_size, train.rows, held_out.rows, text.context))

local function build(depth)
  local layers = {data = train, seed = 1, nn.token_embedding{dims = dims}, nn.position_embedding{}}
  for i = 1, depth do layers[#layers + 1] = nn.transformer_block{heads = 4, name = "block" .. i} end
  layers[#layers + 1] = nn.layer_norm{name = "final_norm"}
  layers[#layers + 1] = nn.linear{outputs = text.vocabulary_size, name = "head"}
  return nn.sequential(layers)
end

-- 2. Depth and learning rate: each trial trains briefly on 80 % of the training windows and is
--    judged by the share of next characters it predicts on the rest.
local search = gpu.submit(gpu.optimization{target = "accuracy", data = train, budget = quick and 2 or 4, seed = 1,
  training_epochs = 1, model = function(p) return build(p.depth) end,
  search = {depth = quick and {1} or {1, 2}, learning_rate = {0.003, 0.01}}}):await()
for _, t in ipairs(search.trials) do
  print(("search: depth %d, learning rate %g → next-character accuracy %.3f"):format(t.depth, t.learning_rate, t.accuracy))
end

-- 3. Train the best.
local model = build(search.best.depth)
print(tostring(model))
local trained = gpu.submit(gpu.training{model = model, data = train, epochs = quick and 1 or 6, batch_size = 32,
  algorithm = gpu.adam{learning_rate = search.best.learning_rate}, gradient_clip = 1}):await()
print(("train: loss %.4f after %d epochs in %.2f s (%.0f tokens/s)"):format(
  trained.metrics.loss, trained.metrics.epochs, trained.metrics.seconds, trained.metrics.samples_per_sec * text.context))
local scored = gpu.submit(gpu.inference{model = trained.model, data = held_out}):await()
print(("held out: loss %.4f nats per character, perplexity %.2f, next-character accuracy %.3f"):format(
  scored.loss, scored.perplexity, scored.accuracy))

-- 4. Generate.
local g = gpu.submit(gpu.inference{model = trained.model, prompt = "A man ", max_tokens = quick and 20 or 200,
  temperature = 0.8, top_k = 10, seed = 1, max_latency_ms = 100}):await()
print(("generated %d characters at %.0f tokens/s (p99 %.1f ms per token):"):format(g.tokens, g.tokens_per_sec, g.latency_ms.p99))
print(g.prompt .. g.text)
