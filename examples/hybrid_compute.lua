-- hybrid_compute.lua — let gpuflow pick the backend per task: a primary choice and what to fall
-- back to, with the reason for the choice in the result; then the adaptive strategy, which
-- learns from the history which backend runs this work best.
local gpu  = require "gpu"
local nn   = require "gpu.nn"
local data = require "gpu.data"

local quick = arg[1] == "--quick"
local ds = data.blobs{samples = 400, features = 8, centers = 4, seed = 3}:standardize()
local model = nn.mlp{inputs = 8, hidden = {32}, outputs = 4, seed = 1}
local training = gpu.training{model = model, data = ds, epochs = quick and 2 or 10, batch_size = 32}

-- Prefer the GPU; if it is missing, refuses or faults, cascade to SIMD, then the CPU reference.
local r = gpu.submit(gpu.hybrid_compute{task = training, primary_backend = "vulkan", fallback = {"simd", "cpu"}}):await()
print(("ran on %s — %s"):format(r.backend, r.reason))
print(("accuracy %.3f after %d epochs"):format(r.result.metrics.accuracy, r.result.metrics.epochs))

-- The SIMD backend (OpenBLAS GEMM), with no fallback: fails with its reason where it cannot run.
local ok, res = pcall(function()
  return gpu.submit(gpu.hybrid_compute{task = training, primary_backend = "simd", fallback = "fail"}):await()
end)
print("strict simd:", ok and ("ran on " .. res.backend) or res:match("no backend could run the task.*"))

-- Adaptive: each backend is tried twice, then the predicted-fastest (weighted with memory and
-- availability) is chosen; exploration is off here so the output is stable.
for i = 1, quick and 3 or 8 do
  local a = gpu.submit(gpu.hybrid_compute{task = training, primary_backend = "vulkan",
                                          fallback = {adaptive = {backends = {"simd", "cpu"}, exploration = 0}}}):await()
  print(("adaptive #%d: %s — %s"):format(i, a.backend, a.reason:match("^[^;]*")))
end
for _, insight in ipairs(gpu.insights()) do
  if insight.category == "performance_optimization" then print(("insight (%.2f): %s"):format(insight.confidence, insight.description)) end
end
