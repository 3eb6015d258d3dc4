-- workflow: stages whose results are cached by what they depend on, and that a cluster can
-- run as separate jobs.
--
--   local workflow = require "workflow"
--   local data  = workflow.stage("prepare", {path}, function(path) return gpu.data.csv(path):standardize() end)
--   local model = workflow.stage("train", {data, 20}, function(d, epochs) ... return r.model end,
--                                {gpus = 1, memory = "4G", time = "00:30:00"})
--   local runs  = workflow.sweep("tune", {values = {0.01, 0.03, 0.1}, inputs = {model, data}, throttle = 2},
--                                function(lr, m, d) ... end)
--
-- A stage's key is the hash of its name, its function's source text, its inputs (models and
-- data sets by content) and the run's seed and backend: run it again with nothing changed and
-- the result comes from the run store; edit the function (or pass other inputs) and it runs
-- again. Values the function closes over are not part of the key: pass them as inputs.
--
-- The options table (gpus, cpus, memory, time, after) is what the stage's Slurm job asks for
-- under `gpuflow submit --slurm`; a local run checks it and otherwise ignores it. A stage's
-- inputs that are other stages' results are its dependencies; `after` adds ordering without
-- data. In plan mode (`gpuflow run --plan`, and inside `gpuflow submit`) no stage runs: each
-- returns a placeholder for its result, so code outside stages should only wire stages together.
local native = require "gpu.native"
local getinfo = debug.getinfo
local unpack = table.unpack
local workflow = {}

-- Placeholders: a stage's result before it exists. Indexing, calling and arithmetic give more
-- placeholders from the same stage (so `trained.model` can be wired into the next stage);
-- what would need the value itself is an error that says so.
local origin = setmetatable({}, {__mode = "k"})
local Pending = {__metatable = "workflow placeholder"}

local function pending(stage, path)
  local p = setmetatable({}, Pending)
  origin[p] = {stage = stage, path = path}
  return p
end

local function describe(p)
  local o = origin[p]
  return ("<result of stage '%s'%s>"):format(o.stage, o.path)
end

local function unavailable(p)
  error(("%s is not available here: in plan mode and in a cluster job, results of stages that have not run "
    .. "are placeholders; use them as inputs of other stages"):format(describe(p)), 3)
end

Pending.__index = function(p, k) local o = origin[p]; return pending(o.stage, o.path .. "." .. tostring(k)) end
Pending.__newindex = unavailable
Pending.__tostring = describe
Pending.__call = function(p) return pending(origin[p].stage, origin[p].path .. "()") end
Pending.__len = function() return 0 end
Pending.__pairs = function() return function() return nil end end
Pending.__concat = function(a, b) return tostring(a) .. tostring(b) end
Pending.__lt = function(a, b) unavailable(origin[a] and a or b) end
Pending.__le = Pending.__lt
Pending.__close = nil
for _, op in ipairs{"add", "sub", "mul", "div", "mod", "pow", "unm", "idiv", "band", "bor", "bxor", "shl", "shr", "bnot"} do
  Pending["__" .. op] = function(a, b)
    local p = origin[a] and a or b
    return pending(origin[p].stage, origin[p].path)
  end
end

--- Whether a value is a placeholder for a stage's result.
function workflow.is_pending(v) return origin[v] ~= nil end

-- Names of the stages whose placeholders appear anywhere in v (tables searched raw).
local function dependencies(v, found, seen)
  found, seen = found or {}, seen or {}
  if type(v) ~= "table" or seen[v] then return found end
  seen[v] = true
  local o = origin[v]
  if o then
    for _, n in ipairs(found) do if n == o.stage then return found end end
    found[#found + 1] = o.stage
    return found
  end
  for _, x in next, v do dependencies(x, found, seen) end
  return found
end

local function location(level)
  local info = getinfo(level + 1, "Sl")
  return info and (info.short_src .. ":" .. (info.currentline or 0)) or "?"
end

-- Runs fn on the inputs under the stage's seed scope; returns its result or raises its error.
-- Tasks the stage submits without a name are named after it (the report, runs compare and
-- runs show then say "train", not "training").
local function compute(key, inputs, fn, name)
  native.stage_begin(key, name)
  local ok, result = pcall(fn, unpack(inputs, 1, inputs.n or #inputs))
  native.stage_end(key)
  if not ok then error(result, 0) end
  return result
end

local function stage_key(name, inputs, fn)
  local info = getinfo(fn, "S")
  return native.stage_key(name, inputs, info.source, info.linedefined, info.lastlinedefined)
end

-- A cluster job's stage: runs when it is the job's target (then the script ends), else its
-- result comes from the run directory, or is a placeholder when that stage has not run.
local function cluster_stage(stage, element, index, inputs, fn, where)
  local state, value = native.stage_cluster(stage, element, index)
  if state == "done" then return value end
  if state == "pending" then return pending(stage, index and ("[" .. index .. "]") or "") end
  local missing = dependencies(inputs)
  if #missing > 0 then
    error(("%s: stage '%s' needs the result of stage '%s', which is not in the run directory (its job has not succeeded)")
      :format(where, element, missing[1]), 0)
  end
  native.stage_cluster_store(element, compute(stage_key(element, inputs, fn), inputs, fn, element))
  error("workflow: the cluster job's stage is done", 0)  -- ends the script; the host counts it a success
end

local function local_stage(name, inputs, fn)
  local key = stage_key(name, inputs, fn)
  local hit, value = native.stage_lookup(key, name)
  if hit then return value end
  local result = compute(key, inputs, fn, name)
  native.stage_store(key, name, result)
  return result
end

--- Runs fn(inputs...) as the stage `name` (or takes its cached result) and returns the result.
--- options: {gpus, cpus, memory = MB | "4G", time = minutes | "HH:MM:SS", after = {names}}.
function workflow.stage(name, inputs, fn, options)
  if type(name) ~= "string" or name == "" then error("workflow.stage: name must be a non-empty string", 2) end
  if type(inputs) ~= "table" then error(("workflow.stage '%s': inputs must be a list"):format(name), 2) end
  if type(fn) ~= "function" then error(("workflow.stage '%s': expected a function"):format(name), 2) end
  if options ~= nil and type(options) ~= "table" then error(("workflow.stage '%s': options must be a table"):format(name), 2) end
  local where = location(2)
  local mode = native.stage_mode()
  if mode == "plan" then
    native.stage_plan(name, options, where, dependencies(inputs))
    return pending(name, "")
  end
  native.stage_check(name, options, where)
  if mode == "cluster" then return cluster_stage(name, name, nil, inputs, fn, where) end
  return local_stage(name, inputs, fn)
end

--- Runs fn(value, inputs...) for each of spec.values as the elements of one stage (a Slurm job
--- array on a cluster) and returns their results in order.
--- spec: {values = {...}, inputs = {...}, throttle = N, gpus, cpus, memory, time, after}.
function workflow.sweep(name, spec, fn)
  if type(name) ~= "string" or name == "" then error("workflow.sweep: name must be a non-empty string", 2) end
  if type(spec) ~= "table" then error(("workflow.sweep '%s': expected {values = {...}, inputs = {...}}"):format(name), 2) end
  if type(fn) ~= "function" then error(("workflow.sweep '%s': expected a function"):format(name), 2) end
  local values, inputs = spec.values, spec.inputs or {}
  if type(values) ~= "table" or #values == 0 then error(("workflow.sweep '%s': values must be a non-empty list"):format(name), 2) end
  if type(inputs) ~= "table" then error(("workflow.sweep '%s': inputs must be a list"):format(name), 2) end
  local options = {}
  for k, v in pairs(spec) do
    if k ~= "values" and k ~= "inputs" then options[k] = v end
  end
  local where = location(2)
  local mode = native.stage_mode()
  if mode == "plan" then
    native.stage_plan(name, options, where, dependencies({values, inputs}), #values)
    local out = {}
    for i = 1, #values do out[i] = pending(name, "[" .. i .. "]") end
    return out
  end
  native.stage_check(name, options, where)
  local results = {}
  for i, v in ipairs(values) do
    local element = ("%s[%d]"):format(name, i)
    local args = {v, unpack(inputs, 1, inputs.n or #inputs)}
    if mode == "cluster" then
      results[i] = cluster_stage(name, element, i, args, fn, where)
    else
      results[i] = local_stage(element, args, fn)
    end
  end
  return results
end

return workflow
