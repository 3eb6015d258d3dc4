-- gpu.metrics: what the orchestrator and the performance monitor measured, as data
-- (snapshot(), tasks(), task(h), pool(), kernels(), device()), as text (report()) or in the
-- Prometheus exposition format (prometheus()). A figure this machine cannot measure is the
-- string "unavailable", never a number.
local native = require "gpu.native"
local metrics = {}

function metrics.snapshot() return native.metrics_snapshot() end
function metrics.tasks() return native.metrics_snapshot().tasks end
function metrics.pool() return native.metrics_snapshot().pool end
function metrics.kernels() return native.metrics_snapshot().kernels end
function metrics.device() return native.metrics_snapshot().device end
function metrics.prometheus() return native.metrics_prometheus() end

--- The monitor's figures for one task (a handle, an id, or an awaited result with `id`): GPU
-- time, host time, transfers and bandwidth, tensor high-water, utilization, kernels.
function metrics.task(h)
  local id = type(h) == "table" and (h.id or h.task_id) or h
  if math.type(id) ~= "integer" then
    error(("gpu.metrics.task: expected a task handle or id, got %s"):format(type(h)), 2)
  end
  for _, t in ipairs(native.metrics_snapshot().task_metrics) do
    if t.id == id then return t end
  end
  return nil
end

local function percentile(sorted, p)
  if #sorted == 0 then return nil end
  local rank = math.max(1, math.ceil(p / 100 * #sorted))
  return sorted[rank]
end

local function num(x, fmt)
  if type(x) ~= "number" then return tostring(x or "-") end
  return (fmt or "%.4f"):format(x)
end

--- A plain-text report: tasks by type and state, run and wait times, per-task device figures,
-- kernels, the device and the pool.
function metrics.report()
  local snap = native.metrics_snapshot()
  local by_type, order = {}, {}
  for _, t in ipairs(snap.tasks) do
    local s = by_type[t.type]
    if not s then
      s = {n = 0, states = {}, runs = {}, waits = {}}
      by_type[t.type] = s
      order[#order + 1] = t.type
    end
    s.n = s.n + 1
    s.states[t.state] = (s.states[t.state] or 0) + 1
    if t.run_s then s.runs[#s.runs + 1] = t.run_s end
    if t.wait_s then s.waits[#s.waits + 1] = t.wait_s end
  end
  table.sort(order)
  local lines = {("%-22s %5s %-28s %10s %10s %10s"):format("task type", "n", "states", "run p50 s", "run max s", "wait p50 s")}
  for _, ty in ipairs(order) do
    local s = by_type[ty]
    table.sort(s.runs)
    table.sort(s.waits)
    local states = {}
    for k, v in pairs(s.states) do states[#states + 1] = k .. "=" .. v end
    table.sort(states)
    local function f(x) return x and ("%.4f"):format(x) or "-" end
    lines[#lines + 1] = ("%-22s %5d %-28s %10s %10s %10s"):format(ty, s.n, table.concat(states, ","),
      f(percentile(s.runs, 50)), f(s.runs[#s.runs]), f(percentile(s.waits, 50)))
  end
  if #snap.task_metrics > 0 then
    lines[#lines + 1] = ""
    lines[#lines + 1] = ("%-5s %-20s %-7s %9s %9s %9s %7s %12s"):format("id", "task", "backend", "wall s", "gpu s", "host s", "util", "peak bytes")
    for _, t in ipairs(snap.task_metrics) do
      lines[#lines + 1] = ("%-5s %-20s %-7s %9s %9s %9s %7s %12s"):format(tostring(t.id or "-"), t.name:sub(1, 20), t.backend,
        num(t.wall_s), num(t.gpu_s), num(t.host_s), num(t.utilization_ratio, "%.2f"), tostring(t.peak_tensor_bytes))
    end
  end
  if #snap.kernels > 0 then
    lines[#lines + 1] = ""
    lines[#lines + 1] = ("%-28s %10s %10s %10s"):format("kernel", "dispatches", "total s", "mean us")
    for _, k in ipairs(snap.kernels) do
      lines[#lines + 1] = ("%-28s %10d %10.4f %10.1f"):format(k.kernel, k.dispatches, k.total_s, k.mean_us)
    end
  end
  for _, q in ipairs(snap.queues) do
    lines[#lines + 1] = ("queue %s on %s: busy %.4f s, utilization %.1f%%"):format(q.queue, q.device, q.busy_s, 100 * q.utilization_ratio)
  end
  local d = snap.device
  lines[#lines + 1] = ("device: utilization %s, memory used %s, power %s W, temperature %s C"):format(
    num(d.gpu_utilization_ratio, "%.2f"), num(d.memory_used_bytes, "%.0f"), num(d.power_w, "%.1f"), num(d.temperature_c, "%.0f"))
  local p = snap.pool
  lines[#lines + 1] = ("pool: %d/%d MB in use (peak %d MB), %d running / %d queued (peak %d of %d concurrent), backend %s")
    :format(p.memory_in_use_mb, p.memory_pool_mb, p.peak_memory_mb, p.running_tasks, p.queued_tasks,
            p.peak_running_tasks, p.max_concurrent_tasks, snap.backend)
  local m = snap.monitor
  lines[#lines + 1] = ("monitor: %d samples at %d ms, %.3f%% of wall time spent sampling"):format(m.samples, m.interval_ms,
    100 * m.sampling_ratio)
  return table.concat(lines, "\n")
end

return metrics
