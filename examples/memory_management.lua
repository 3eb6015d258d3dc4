-- memory_management.lua — look at the pools, then compact and clean the device pool.
-- On the cpu backend there is no device pool: stats say so and optimize explains why it cannot run.
local gpu  = require "gpu"
local nn   = require "gpu.nn"
local data = require "gpu.data"

local ds = data.blobs{samples = 256, features = 16, centers = 4, seed = 1}
local m = nn.mlp{inputs = 16, hidden = {64, 64}, outputs = 4, seed = 1}
gpu.submit(gpu.training{model = m, data = ds, epochs = 2, memory_mb = 32}):await()

local s = gpu.submit(gpu.memory_management{operation = "stats"}):await()
print(("orchestrator pool: %d MB, peak %d MB reserved by tasks"):format(s.memory_pool_mb, s.peak_memory_mb))
if type(s.device_pool) == "table" then
  local d = s.device_pool
  print(("device pool (%s memory): %d blocks, %d bytes held for %d requested, fragmentation %.2f"):format(
    d.memory_path, d.blocks, d.reserved_bytes, d.requested_bytes, d.fragmentation))
  local o = gpu.submit(gpu.memory_management{operation = "optimize"}):await()
  print(("optimize: moved %d buffers, released %d bytes"):format(o.moved, o.released_bytes))
  local g = gpu.submit(gpu.memory_management{operation = "garbage_collection", cleanup_strategy = "immediate"}):await()
  print(("garbage collection: released %d bytes, %d blocks left"):format(g.released_bytes, g.after.blocks))
else
  print("device pool:", s.device_pool)
  local ok, err = pcall(function() return gpu.submit(gpu.memory_management{operation = "optimize"}):await() end)
  print("optimize:", ok and "ran" or err:match("memory_management.*"))
end
