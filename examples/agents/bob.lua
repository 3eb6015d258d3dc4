-- bob.lua — the same work as alice, with its own data and seed. Run with the others and a
-- pattern's profile, e.g.:
--   gpuflow run examples/agents/alice.lua examples/agents/bob.lua examples/agents/carol.lua \
--               --profile examples/agents/time_sliced.yaml
-- Each script is an agent named after its file; they contend for the device under the pattern.
local gpu = require "gpu"
local quick = arg[1] == "--quick"
local ds = gpu.data.blobs{samples = quick and 400 or 2000, features = 16, centers = 4, seed = 2}:standardize()
local m = gpu.nn.mlp{inputs = 16, hidden = {64}, outputs = 4, seed = 1}
local t0 = gpu.now()
local r = gpu.submit(gpu.training{model = m, data = ds, epochs = quick and 4 or 12, batch_size = 32, memory_mb = 16}):await()
local s = gpu.submit(gpu.inference{model = r.model, data = ds, batch_size = 128, memory_mb = 8}):await()
print(("bob: accuracy %.3f, served %d rows, %.3f s"):format(s.accuracy, s.rows, gpu.now() - t0))
