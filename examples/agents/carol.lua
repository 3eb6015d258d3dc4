-- carol.lua — a greedy agent: a model far larger than the others'. Under space_partitioned its
-- tensors pass its partition and its task is refused with a typed error, while alice and bob
-- finish untouched; under the other patterns it just takes its turn.
local gpu = require "gpu"
local quick = arg[1] == "--quick"
local ds = gpu.data.blobs{samples = 64, features = 1024, centers = 2, seed = 3}
local m = gpu.nn.mlp{inputs = 1024, hidden = {quick and 2048 or 4096}, outputs = 2, seed = 3}
local ok, r = pcall(function()
  return gpu.submit(gpu.training{model = m, data = ds, epochs = 1, batch_size = 32, memory_mb = 8}):await()
end)
if ok then
  print(("carol: trained a %d-parameter model, loss %.4f"):format(8 * 0 + (1024 * (quick and 2048 or 4096)), r.metrics.loss))
else
  print("carol: refused — " .. tostring(r):match("agent carol: [^\n]*"))
end
local mine = gpu.agent_metrics().carol
print(("carol: %d tasks, peak %d tensor bytes, %d allocations refused"):format(mine.tasks, mine.peak_tensor_bytes or 0, mine.refused_allocations or 0))
