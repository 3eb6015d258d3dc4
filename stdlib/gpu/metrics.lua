-- gpu.metrics: what the orchestrator measured, as data (tasks(), pool()) or as text (report()).
local native = require "gpu.native"
local metrics = {}

function metrics.tasks() return native.metrics_snapshot().tasks end
function metrics.pool() return native.metrics_snapshot().pool end

local function percentile(sorted, p)
  if #sorted == 0 then return nil end
  local rank = math.max(1, math.ceil(p / 100 * #sorted))
  return sorted[rank]
end

--- A plain-text report: tasks by type and state, run and wait times, pool high-water marks.
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
  local p = snap.pool
  lines[#lines + 1] = ("pool: %d/%d MB in use (peak %d MB), %d running / %d queued (peak %d of %d concurrent), backend %s")
    :format(p.memory_in_use_mb, p.memory_pool_mb, p.peak_memory_mb, p.running_tasks, p.queued_tasks,
            p.peak_running_tasks, p.max_concurrent_tasks, snap.backend)
  return table.concat(lines, "\n")
end

return metrics
