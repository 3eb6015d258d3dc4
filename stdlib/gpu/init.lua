-- gpu: submit tasks of the six types, await them, and feed results back to the scheduler.
-- The constructors and the scheduler live in Swift (gpu.native); this file gives them their
-- Lua shape: handles with methods, named options, errors that point at the caller's line.
local native = require "gpu.native"
local AWAIT = native.AWAIT

local gpu = {}

-- Raises `msg` at the first line outside the stdlib, so errors point at the script's call.
local getinfo = debug.getinfo
local function raise(msg)
  local level = 2
  while true do
    local info = getinfo(level, "S")
    if not info then level = 2 break end
    if info.what ~= "C" and not info.source:match("^@stdlib/") then break end
    level = level + 1
  end
  error(msg, level)
end

-- Task constructors (validated in Swift; each raises "gpu.training: epochs must be ...").
for _, name in ipairs{"training", "inference", "optimization", "memory_management",
                      "resource_coordination", "hybrid_compute",
                      "backprop", "adam", "rmsprop", "reinforcement", "transfer", "evolutionary",
                      "exclusive", "time_sliced", "space_partitioned", "pipeline", "collaborative"} do
  gpu[name] = native[name]
end

-- gpu.optimization{model = function(p) return nn.sequential{... p.width ...} end, search = {width = {...}, ...}}:
-- a graph's architecture search. The search dimensions the built-in set lacks are the
-- builder's own; it is called once per point of them, here, before the search runs, and each
-- model is handed over with its point (no Lua runs while trials train).
local standard_dimensions = {batch_size = true, backend = true, learning_rate = true, hidden = true, tile = true}
local native_optimization = native.optimization
function gpu.optimization(spec)
  if type(spec) ~= "table" or type(spec.model) ~= "function" then return native_optimization(spec) end
  if spec.candidates ~= nil then raise("gpu.optimization: candidates are made from model = function(p) ... end, not given") end
  local builder, dims = spec.model, {}
  if type(spec.search) ~= "table" then raise("gpu.optimization: model = function(p) ... end needs search = {name = {values}, ...}") end
  for name, values in pairs(spec.search) do
    if type(name) ~= "string" then raise("gpu.optimization: search names its dimensions (name = {values})") end
    if not standard_dimensions[name] then
      if type(values) ~= "table" or #values == 0 then raise(("gpu.optimization: search.%s must be a non-empty list"):format(name)) end
      dims[#dims + 1] = name
    end
  end
  table.sort(dims)
  if #dims == 0 then raise("gpu.optimization: model = function(p) ... end searches dimensions of its own (search = {width = {32, 64}})") end
  local total = 1
  for _, name in ipairs(dims) do total = total * #spec.search[name] end
  if total > 256 then raise(("gpu.optimization: %d architectures to build; at most 256"):format(total)) end
  local candidates, point = {}, {}
  local function build(i)
    if i > #dims then
      local p, text = {}, {}
      for _, name in ipairs(dims) do p[name] = point[name]; text[#text + 1] = ("%s = %s"):format(name, tostring(point[name])) end
      local ok, m = pcall(builder, p)
      if not ok then raise(("gpu.optimization: model{%s}: %s"):format(table.concat(text, ", "), tostring(m))) end
      if m == nil then raise(("gpu.optimization: model{%s} returned nothing (return nn.sequential{...})"):format(table.concat(text, ", "))) end
      candidates[#candidates + 1] = {point = p, model = m}
      return
    end
    for _, v in ipairs(spec.search[dims[i]]) do
      point[dims[i]] = v
      build(i + 1)
    end
  end
  build(1)
  local copy = {}
  for k, v in pairs(spec) do copy[k] = v end
  copy.model, copy.candidates = candidates[1].model, candidates
  return native_optimization(copy)
end

local Handle = {}
Handle.__index = Handle
Handle.__name = "gpu.handle"

function Handle.__tostring(h) return ("handle(%s #%d)"):format(h.name, h.id) end

--- Waits for the task and returns its result; raises the task's error if it failed.
-- Yields this script's coroutine to the host: other scripts and tasks keep running meanwhile.
function Handle:await()
  if not coroutine.isyieldable() then
    raise("await: cannot wait here (inside a C function such as table.sort or string.gsub); await outside it")
  end
  local ok, value = coroutine.yield(AWAIT, self.id)
  if not ok then raise(value) end
  return value
end

--- {id, name, type, state, wait_s, run_s, error, ...}
function Handle:status() return native.status(self.id) end

--- Cancels the task (and so its dependants); false if it had already ended.
function Handle:cancel() return native.cancel(self.id) end

local function handle(id, name) return setmetatable({id = id, name = name}, Handle) end

local function task_id(x, where)
  if getmetatable(x) == Handle then return x.id end
  if type(x) == "table" and math.type(x.task_id) == "integer" then return x.task_id end
  if math.type(x) == "integer" then return x end
  raise(("%s: expected a task handle or an awaited result, got %s"):format(where, type(x)))
end

local function ids(list, where)
  if list == nil then return nil end
  if type(list) ~= "table" then raise(where .. ": after must be a list of task handles") end
  if getmetatable(list) == Handle then list = {list} end
  local out = {}
  for i, h in ipairs(list) do out[i] = task_id(h, where .. ".after[" .. i .. "]") end
  return out
end

--- Submits a task (gpu.training{...} etc.) or a Lua function (run as a task; it receives the
-- results of its `after` dependencies as arguments). Returns a handle.
-- opts: {after = {handles}, name, priority = "low"|"normal"|"high"|"critical", boost,
--        memory_mb, timeout_s, agent}
function gpu.submit(task, opts)
  -- No options, no copy: a loop of a million submissions leaves no garbage table each.
  if opts == nil then return handle(native.submit(task)) end
  if type(opts) ~= "table" then raise("gpu.submit: options must be a table") end
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  o.after = ids(o.after, "gpu.submit")
  return handle(native.submit(task, o))
end

--- Submits a whole graph at once; cycles and unknown keys are refused before anything runs.
-- nodes: { {key = "a", task = ..., after = {"b"}}, ... } → {a = handle, ...}
function gpu.submit_graph(nodes)
  if type(nodes) ~= "table" then raise("gpu.submit_graph: expected a list of nodes") end
  local ids_by_key = native.submit_graph(nodes)
  local out = {}
  for _, n in ipairs(nodes) do out[n.key] = handle(ids_by_key[n.key], n.name or n.key) end
  return out
end

--- Records what the script measures and chooses, in the run store beside gpuflow's own
-- records (MLflow's log_params / log_metrics): gpu.log{params = {lr = 0.01}, metrics =
-- {accuracy = 0.93}, step = 3}. A param keeps its first value; a metric's values are a
-- series by step (without a step, each name's next step: 0, 1, 2, ...).
gpu.log = native.log
--- Tags the run: gpu.tag{model = "mlp", dataset = "iris"} (a tag may change; the last wins).
gpu.tag = native.tag

--- Waits for every handle in the list and returns their results in order.
function gpu.await_all(handles)
  local results = {}
  for i, h in ipairs(handles) do results[i] = h:await() end
  return results
end

--- Feeds users' judgements back: {{task = handle_or_result, satisfaction = 0..1, suggestions = {...},
-- actual = {duration_s = s}, expected = {duration_s = s}}}. Suggestions "prefer_backend=simd",
-- "avoid_backend=vulkan" and "batch_size=N" change later backend choices and inference defaults;
-- actual/expected scale the duration predictor. All of it is kept in the learning history.
-- Returns the priority boost now in force for each task type judged, and `changes` in words.
function gpu.optimize_scheduling(feedback)
  if type(feedback) ~= "table" then raise("gpu.optimize_scheduling: expected a list of feedback entries") end
  local entries = {}
  for i, f in ipairs(feedback) do
    if type(f) ~= "table" then raise(("gpu.optimize_scheduling[%d]: expected a table"):format(i)) end
    entries[i] = {task_id = task_id(f.task, ("gpu.optimize_scheduling[%d].task"):format(i)),
                  satisfaction = f.satisfaction, suggestions = f.suggestions, actual = f.actual, expected = f.expected}
    for k in pairs(f) do
      if k ~= "task" and k ~= "satisfaction" and k ~= "suggestions" and k ~= "actual" and k ~= "expected" then
        raise(("gpu.optimize_scheduling[%d]: unknown field '%s' (expected task, satisfaction, suggestions, actual, expected)"):format(i, k))
      end
    end
  end
  return native.optimize_scheduling(entries)
end

--- What the learning engine has concluded so far: {{category, confidence, description}, ...}.
function gpu.insights() return native.insights() end

-- Agents sharing the device ---------------------------------------------------------------

--- Sets the coordination among agents: {agents = {...}, pattern = gpu.time_sliced{...} or a
-- name, sharing_policy = {priority_strategy, max_starvation_time, min_resource_share,
-- isolation = {memory, compute, performance}, max_memory_mb, max_concurrent_tasks,
-- max_compute_percent}}. Returns what is now in force.
function gpu.coordinate(args)
  if type(args) ~= "table" then raise("gpu.coordinate: expected a table {agents = {...}, pattern = ...}") end
  return gpu.submit(native.resource_coordination(args)):await()
end

local function await_id(id)
  if not coroutine.isyieldable() then
    raise("channel: cannot wait here (inside a C function such as table.sort or string.gsub)")
  end
  local ok, value = coroutine.yield(AWAIT, id)
  if not ok then raise(value) end
  return value
end

local Channel = {}
Channel.__index = Channel
Channel.__name = "gpu.channel"
function Channel.__tostring(c) return ("channel(%s, capacity %d)"):format(c.name, c.capacity) end
--- Sends a value (tables, numbers, strings, models, data sets, tensors); waits while the
-- channel is full, which is the back-pressure on a fast producer.
function Channel:put(value) await_id(native.channel_put(self.name, value)) return true end
--- The next value; waits while the channel is empty; nil once it is closed and drained.
function Channel:get() return await_id(native.channel_get(self.name)) end
--- No more values: readers drain what is left, then get nil. A script's channels close when it ends.
function Channel:close() native.channel_close(self.name) end
--- {count, capacity, puts, gets, peak_occupancy, producer_wait_s, consumer_wait_s, closed}
function Channel:stats() return native.channel_stats(self.name) end

local function channel_object(t) return setmetatable({name = t.name, capacity = t.capacity}, Channel) end

--- A bounded channel shared by every script of the run, made on first use: gpu.channel("name", 4)
-- or gpu.channel{name = "name", capacity = 4}.
function gpu.channel(name, capacity)
  if type(name) == "table" then name, capacity = name.name, name.capacity end
  if type(name) ~= "string" then raise("gpu.channel: expected a name") end
  return channel_object(native.channel_open(name, capacity))
end

--- This agent's place in the pipeline in force: {name, index, stages, input = channel|nil, output = channel|nil}.
function gpu.stage()
  local s = native.stage()
  if s.input then s.input = channel_object(native.channel_open(s.input)) end
  if s.output then s.output = channel_object(native.channel_open(s.output)) end
  return s
end

gpu.release_device = native.release_device
gpu.coordination_log = native.coordination_log
gpu.agent_metrics = native.agent_metrics
gpu.time_slices = native.time_slices
gpu.now = native.now

gpu.status = function(h) return native.status(task_id(h, "gpu.status")) end
gpu.cancel = function(h) return native.cancel(task_id(h, "gpu.cancel")) end
gpu.seed = native.seed
gpu.backend = native.backend
gpu.tensor = native.tensor

-- model:predict(x, {batch_size, layer, ...}): an inference task on x (a data set, a tensor, or a
-- table of rows in column order or by column name), awaited: {predictions, labels,
-- probabilities, metrics (when x has labels), embeddings (with layer = "name"), latency_ms, ...}.
-- Raw rows are scaled and coded as the model's training rows were (its schema).
local function predict(model, x, opts)
  if opts ~= nil and type(opts) ~= "table" then
    raise("model:predict: options must be a table, e.g. {batch_size = 256, layer = \"linear1\"}")
  end
  if x == nil then raise("model:predict: give the rows to predict: a data set, a tensor, or a table of rows") end
  local spec = {}
  for k, v in pairs(opts or {}) do
    if k == "model" or k == "data" then raise(("model:predict: %s is given by the call itself"):format(tostring(k))) end
    spec[k] = v
  end
  spec.model, spec.data = model, x
  local ok, task = pcall(gpu.inference, spec)
  if not ok then raise((tostring(task):gsub("^[^\n]-stdlib/gpu/init%.lua:%d+: ", ""):gsub("gpu%.inference:", "model:predict:"))) end
  return gpu.submit(task):await()
end
if native.define_method then
  native.define_method("gpu.model", "predict", predict)
  native.define_method("gpu.graph", "predict", predict)
  native.define_method = nil
end

gpu.nn = require "gpu.nn"
gpu.data = require "gpu.data"
gpu.metrics = require "gpu.metrics"

return gpu
