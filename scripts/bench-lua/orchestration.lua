-- The suite's orchestration row from Lua: N no-op function tasks through gpu.submit, all
-- submitted then all awaited. Prints: tasks, seconds, tasks/s, submit-to-start p50 s, p99 s.
local gpu = require "gpu"
local n = tonumber(arg[1]) or 10000
local now = gpu.now
local latency, handles = {}, {}
local t0 = now()
for i = 1, n do
  local submitted = now()
  handles[i] = gpu.submit(function() latency[i] = now() - submitted end)
end
for i = 1, n do handles[i]:await() end
local seconds = now() - t0
table.sort(latency)
local function pct(p) return latency[math.max(1, math.ceil(p * #latency))] end
print(("%d\t%.6f\t%.1f\t%.9f\t%.9f"):format(n, seconds, n / seconds, pct(0.5), pct(0.99)))
