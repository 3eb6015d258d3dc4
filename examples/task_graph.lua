-- task_graph.lua — plain Lua functions as tasks: dependencies, a graph submitted at once,
-- priorities, cancellation, and how failures travel to dependants.
local gpu = require "gpu"

-- A function task receives the results of its `after` dependencies as arguments.
local load = gpu.submit(function() return {rows = 1000} end, {name = "load"})
local clean = gpu.submit(function(loaded) return {rows = loaded.rows - 37} end, {name = "clean", after = {load}})
print("cleaned rows:", clean:await().rows)

-- A whole graph at once: keys name the nodes; cycles and unknown keys are refused before anything runs.
local g = gpu.submit_graph{
  {key = "report", task = function(a, b) return a + b end, after = {"left", "right"}},
  {key = "left", task = function() return 40 end},
  {key = "right", task = function() return 2 end, priority = "high"},
}
print("graph result:", g.report:await())
local ok, err = pcall(gpu.submit_graph, {
  {key = "a", task = function() end, after = {"b"}},
  {key = "b", task = function() end, after = {"a"}},
})
print("cycle refused:", not ok, err)

-- A failure reaches every dependant with its cause; nothing downstream runs.
local broken = gpu.submit(function() error("sensor offline") end, {name = "ingest"})
local downstream = gpu.submit(function() return "never" end, {name = "aggregate", after = {broken}})
local ok2, why = pcall(downstream.await, downstream)
print("dependant failed:", not ok2, why)
print("the cause itself:", select(2, pcall(broken.await, broken)))   -- awaited, so no "never awaited" warning
print("state of aggregate:", downstream:status().state)

-- Cancellation: a queued task can be withdrawn before it runs.
local slow = gpu.submit(function() return "done" end, {name = "optional", priority = "low"})
print("cancel:", slow:cancel() and "withdrawn before it ran" or "too late: it had already run")
print(gpu.metrics.report())
