-- memory_management.lua — every memory operation on the device pool: configure the pool,
-- allocate aligned buffers, measure transfers, free buffers under a cleanup strategy, compact,
-- collect garbage. On a backend without a device pool (cpu, simd) stats say so and the other
-- operations explain why they cannot run.
local gpu  = require "gpu"
local nn   = require "gpu.nn"
local data = require "gpu.data"

local function run(args) return gpu.submit(gpu.memory_management(args)):await() end

local ds = data.blobs{samples = 256, features = 16, centers = 4, seed = 1}
local m = nn.mlp{inputs = 16, hidden = {64, 64}, outputs = 4, seed = 1}
gpu.submit(gpu.training{model = m, data = ds, epochs = 2, memory_mb = 32}):await()

local s = run{operation = "stats"}
print(("orchestrator pool: %d MB, peak %d MB reserved by tasks"):format(s.memory_pool_mb, s.peak_memory_mb))
if type(s.device_pool) ~= "table" then
  print("device pool:", s.device_pool)
  local ok, err = pcall(run, {operation = "allocate", size_mb = 1})
  print("allocate:", ok and "ran" or err:match("memory_management.*"))
  return
end

-- Pool configuration: first-fit placement, linear block growth, 8 MB reserved up front, a 512 MB cap.
local a = run{operation = "allocate", size = 3 * 1024 * 1024 + 5, alignment = "page", access_pattern = "device_local",
              pool = {initial_size_mb = 8, max_size_mb = 512, growth = "linear", allocation = "first_fit"}}
print(("allocate: buffer #%d, %d bytes at offset %d (page-aligned: %s), pool %s/%s, prewarmed %d bytes"):format(
  a.buffer_id, a.bytes, a.offset, tostring(a.aligned), a.pool_configuration.allocation, a.pool_configuration.growth,
  a.pool_configuration.prewarmed_bytes))
local b = run{operation = "allocate", size_mb = 1, alignment = "cache_line", access_pattern = "host_to_device"}
print(("allocate: buffer #%d in host-visible memory (%s)"):format(b.buffer_id, b.access_pattern))

for _, dir in ipairs{"cpu_to_gpu", "gpu_to_cpu", "gpu_to_gpu"} do
  local t = run{operation = "transfer", direction = dir, size_mb = 4, priority = "high"}
  print(("transfer %s: %d bytes in %.3f ms (%.2f GB/s)"):format(dir, t.bytes, t.seconds * 1e3, t.gb_per_s))
end

local d = run{operation = "deallocate", buffers = {a.buffer_id}, cleanup_strategy = {lazy = {pressure_threshold = 0.9, delay = 0}}}
print(("deallocate: freed %d bytes; lazy cleanup at pressure %.3f: %s"):format(d.freed_bytes, d.cleanup.pressure, d.cleanup.reason))
local ok, err = pcall(run, {operation = "deallocate", buffers = {999}})
print("deallocate #999:", ok and "freed" or err:match("deallocate: no buffer #999"))
local f = run{operation = "deallocate", buffers = {b.buffer_id, 999}, force = true, cleanup_strategy = "smart"}
print(("deallocate (force): freed %s, skipped %s; smart cleanup kept %d bytes (the learned working set)"):format(
  table.concat(f.freed, ","), table.concat(f.skipped, ","), f.cleanup.kept_bytes))

local o = run{operation = "optimize", consolidation_threshold = 0.0}
print(("optimize: compacted %s, moved %d buffers, released %d bytes"):format(tostring(o.compacted), o.moved, o.released_bytes))
local g = run{operation = "garbage_collection", aggressive = true, preserve_cache = false}
print(("garbage collection (aggressive): released %d bytes, %d blocks left"):format(g.released_bytes, g.after.blocks))
local sc = run{operation = "garbage_collection", cleanup_strategy = {scheduled = {interval = 0.5, percentage = 50}}}
print("scheduled cleanup:", sc.cleanup.reason)
