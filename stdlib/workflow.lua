-- workflow: stages whose results are cached by what they depend on.
--
--   local workflow = require "workflow"
--   local data  = workflow.stage("prepare", {path}, function(path) return gpu.data.csv(path):standardize() end)
--   local model = workflow.stage("train", {data, 20}, function(d, epochs) ... return r.model end)
--
-- A stage's key is the hash of its name, its function's source text, its inputs (models and
-- data sets by content) and the run's seed and backend: run it again with nothing changed and
-- the result comes from the run store; edit the function (or pass other inputs) and it runs
-- again. Values the function closes over are not part of the key: pass them as inputs.
local native = require "gpu.native"
local getinfo = debug.getinfo
local unpack = table.unpack
local workflow = {}

function workflow.stage(name, inputs, fn)
  if type(name) ~= "string" or name == "" then error("workflow.stage: name must be a non-empty string", 2) end
  if type(inputs) ~= "table" then error(("workflow.stage '%s': inputs must be a list"):format(name), 2) end
  if type(fn) ~= "function" then error(("workflow.stage '%s': expected a function"):format(name), 2) end
  local info = getinfo(fn, "S")
  local key = native.stage_key(name, inputs, info.source, info.linedefined, info.lastlinedefined)
  local hit, value = native.stage_lookup(key, name)
  if hit then return value end
  native.stage_begin(key)
  local ok, result = pcall(fn, unpack(inputs, 1, inputs.n or #inputs))
  native.stage_end(key)
  if not ok then error(result, 0) end
  native.stage_store(key, name, result)
  return result
end

return workflow
