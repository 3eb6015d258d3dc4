-- gpu.nn: models.
--   nn.mlp{inputs, hidden = {...}, outputs, activation = "relu", seed}   today's fixed MLP
--   nn.sequential{inputs = N | data = ds, seed = S, layer, layer, ...}    a graph of ops
--     layers: nn.linear{outputs, bias = true, init = "auto" | "pytorch"}, nn.relu{}, nn.gelu{approximate = "tanh"},
--     nn.silu{}, nn.sigmoid{}, nn.tanh{}, nn.leaky_relu{slope = 0.01}, nn.layer_norm{eps},
--     nn.dropout{p}, nn.flatten{}, nn.conv2d{outputs, kernel, stride, padding, dilation, groups, bias},
--     nn.max_pool2d{kernel}, nn.avg_pool2d{kernel}, nn.global_avg_pool{}, nn.batch_norm{momentum = 0.1, eps = 1e-5}, nn.residual{layer, ...}, nn.embedding{dims = 8 | {column = dims}, columns = {...}}
--     (first; needs data = ds with categorical columns); every layer takes name = "..." too.
--     Sequences (inputs = {positions} of token ids, or data = a data.text set):
--     nn.token_embedding{dims, tokens = the data's vocabulary} (first),
--     nn.position_embedding{context = the input's positions, kind = "learned" | "sinusoidal"},
--     nn.attention{heads, causal = true}, nn.transformer_block{heads, hidden = 4·dims, dropout = 0,
--     causal = true}; end with nn.layer_norm{} and nn.linear{outputs = tokens}.
--   nn.graph{inputs = N | data = ds, seed = S, output = v | outputs = {v, ...}}   the functional
--     form, for graphs that are not a chain: x = nn.input(); h = nn.relu{}(nn.linear{outputs = 16}(x));
--     branches join with nn.add{a, b} and nn.concat{a, b}; several outputs are joined side by
--     side along the last axis. Calling a layer traces it once, when the model is built.
--   nn.load(path)            a model saved with model:save(path) (.gfmodel or safetensors)
--   nn.load(path, {model = m, mapping = "sequential" | {layer = "torch.module"}, strict = true})
--                            a PyTorch state dict (safetensors) in the architecture m
--   model:save_state_dict(path, {mapping})  the weights under PyTorch's names and layouts
--   model:export_onnx(path)  the inference graph as ONNX (opset 17)
--   model:predict(x, {batch_size, layer})   predictions, probabilities, labels, metrics
-- Layers are plain descriptions: nothing runs in Lua inside a training step. Unknown keys are
-- refused at the line that wrote them; shapes are checked when nn.sequential builds the graph.
local native = require "gpu.native"

-- The functional form. A value stands for a tensor the model will compute: the input, a
-- layer applied to a value, or a join of values. Nothing is computed here; nn.graph walks the
-- values back from the outputs and hands the native builder a list in dependency order.
local Value = {__name = "nn.value"}
Value.__index = Value
local function is_value(v) return getmetatable(v) == Value end
-- Taken when the stdlib loads: a sandboxed script has no `debug` table, and its layers still
-- say where they were written.
local getinfo = debug.getinfo
local function where(level)
  local info = getinfo(level + 1, "Sl")
  return info and ("%s:%d"):format(info.short_src, info.currentline or 0) or nil
end

-- Layers with parameters may be applied once: applying one twice would mean shared weights,
-- which this version does not have (make a second layer).
local has_parameters = {linear = true, layer_norm = true, embedding = true, residual = true, conv2d = true,
                        batch_norm = true, token_embedding = true, position_embedding = true, attention = true, transformer_block = true}
local applied = setmetatable({}, {__mode = "k"})
local Layer = {__name = "nn.layer"}
Layer.__call = function(self, input, ...)
  if select("#", ...) > 0 then error(("nn.%s: a layer takes one value"):format(self.layer), 2) end
  if not is_value(input) then
    error(("nn.%s: called on a %s, not a value (from nn.input() or another layer)"):format(self.layer, type(input)), 2)
  end
  if applied[self] and has_parameters[self.layer] then
    error(("nn.%s%s: applied a second time; weights are not shared in this version, make another nn.%s"):format(
      self.layer, self.where and (" (made at " .. self.where .. ")") or "", self.layer), 2)
  end
  applied[self] = true
  return setmetatable({kind = "layer", layer = self, inputs = {input}}, Value)
end

local function input(spec)
  if spec ~= nil and (type(spec) ~= "table" or next(spec) ~= nil) then error("nn.input: takes no options", 2) end
  return setmetatable({kind = "input", inputs = {}}, Value)
end

local function join(kind)
  return function(spec)
    if type(spec) ~= "table" then error(("nn.%s: expected a table of values, got %s"):format(kind, type(spec)), 2) end
    local out = setmetatable({kind = kind, inputs = {}, where = where(2)}, Value)
    for k, v in pairs(spec) do
      if k == "name" then
        if type(v) ~= "string" or v == "" then error(("nn.%s: name must be a non-empty string"):format(kind), 2) end
        out.name = v
      elseif math.type(k) ~= "integer" then
        error(("nn.%s: unknown option '%s' (known: name, and the values to join)"):format(kind, tostring(k)), 2)
      elseif not is_value(v) then
        error(("nn.%s: item %d is a %s, not a value"):format(kind, k, type(v)), 2)
      end
    end
    for i = 1, #spec do out.inputs[i] = spec[i] end
    if #out.inputs < 2 then error(("nn.%s: joins two or more values, got %d"):format(kind, #out.inputs), 2) end
    return out
  end
end

-- nn.graph: the values reachable from the outputs, each once, inputs before their users.
local function graph(spec)
  if type(spec) ~= "table" then error(("nn.graph: expected a table of options, got %s"):format(type(spec)), 2) end
  for k, v in pairs(spec) do
    if k ~= "outputs" and k ~= "output" and k ~= "inputs" and k ~= "data" and k ~= "seed" then
      error(("nn.graph: unknown option '%s' (known: data, inputs, output, outputs, seed)"):format(tostring(k)), 2)
    end
  end
  local outputs = spec.outputs or (spec.output ~= nil and {spec.output}) or nil
  if spec.outputs ~= nil and spec.output ~= nil then error("nn.graph: give output or outputs, not both", 2) end
  if type(outputs) ~= "table" or #outputs == 0 then
    error("nn.graph: output is required (a value: nn.graph{inputs = 4, output = y}) or outputs = {y1, y2, ...}", 2)
  end
  local index, order, the_input = {}, {}, nil
  for i, out in ipairs(outputs) do
    if not is_value(out) then error(("nn.graph: output %d is a %s, not a value"):format(i, type(out)), 2) end
    -- An iterative depth-first walk: deep chains do not grow the C stack.
    local stack = {{out, 1}}
    while #stack > 0 do
      local top = stack[#stack]
      local v, next_input = top[1], top[2]
      if index[v] then
        stack[#stack] = nil
      elseif next_input <= #v.inputs then
        top[2] = next_input + 1
        if not index[v.inputs[next_input]] then stack[#stack + 1] = {v.inputs[next_input], 1} end
      else
        stack[#stack] = nil
        if v.kind == "input" then
          if the_input and the_input ~= v then error("nn.graph: the model reads one input; two nn.input() values reach its outputs", 2) end
          the_input = v
          index[v] = 0
        else
          order[#order + 1] = v
          index[v] = #order
        end
      end
      if #order > 4096 then error("nn.graph: more than 4,096 layers", 2) end
    end
  end
  if not the_input then error("nn.graph: no nn.input() reaches the outputs", 2) end
  local nodes = {}
  for i, v in ipairs(order) do
    local refs = {}
    for j, x in ipairs(v.inputs) do refs[j] = index[x] end
    nodes[i] = {kind = v.kind, layer = v.layer, inputs = refs, name = v.name, where = v.where}
  end
  local refs = {}
  for i, out in ipairs(outputs) do refs[i] = index[out] end
  return native.nn_graph{inputs = spec.inputs, data = spec.data, seed = spec.seed, nodes = nodes, outputs = refs}
end

local function layer(kind, keys)
  return function(spec)
    spec = spec or {}
    if type(spec) ~= "table" then error(("nn.%s: expected a table of options, got %s"):format(kind, type(spec)), 2) end
    local out = {layer = kind}
    for k, v in pairs(spec) do
      if type(k) == "number" then
        if kind ~= "residual" then error(("nn.%s: takes named options only (got a positional value)"):format(kind), 2) end
        if type(v) ~= "table" or not v.layer then error(("nn.residual: item %d is not a layer"):format(k), 2) end
        out[k] = v
      elseif k == "name" then
        if type(v) ~= "string" or v == "" then error(("nn.%s: name must be a non-empty string"):format(kind), 2) end
        out.name = v
      elseif keys[k] then
        if not (("|" .. keys[k] .. "|"):find("|" .. type(v) .. "|", 1, true)) then
          error(("nn.%s: %s must be a %s, got %s"):format(kind, k, keys[k]:gsub("|", " or "), type(v)), 2)
        end
        out[k] = v
      else
        local known = {}
        for name in pairs(keys) do known[#known + 1] = name end
        table.sort(known)
        known[#known + 1] = "name"
        error(("nn.%s: unknown option '%s' (known: %s)"):format(kind, tostring(k), table.concat(known, ", ")), 2)
      end
    end
    out.where = where(2)
    return setmetatable(out, Layer)
  end
end

return {
  mlp = native.nn_mlp,
  sequential = native.nn_sequential,
  graph = graph,
  input = input,
  add = join("add"),
  concat = join("concat"),
  load = native.nn_load,
  linear = layer("linear", {outputs = "number", bias = "boolean", init = "string"}),
  relu = layer("relu", {}),
  gelu = layer("gelu", {approximate = "string"}),
  silu = layer("silu", {}),
  sigmoid = layer("sigmoid", {}),
  tanh = layer("tanh", {}),
  leaky_relu = layer("leaky_relu", {slope = "number"}),
  layer_norm = layer("layer_norm", {eps = "number"}),
  dropout = layer("dropout", {p = "number"}),
  flatten = layer("flatten", {}),
  conv2d = layer("conv2d", {outputs = "number", kernel = "number|table", stride = "number|table", padding = "number|table",
                            dilation = "number|table", groups = "number", bias = "boolean"}),
  max_pool2d = layer("max_pool2d", {kernel = "number|table", stride = "number|table"}),
  avg_pool2d = layer("avg_pool2d", {kernel = "number|table", stride = "number|table"}),
  global_avg_pool = layer("global_avg_pool", {}),
  batch_norm = layer("batch_norm", {momentum = "number", eps = "number"}),
  residual = layer("residual", {}),
  embedding = layer("embedding", {dims = "number|table", columns = "table"}),
  token_embedding = layer("token_embedding", {tokens = "number", dims = "number"}),
  position_embedding = layer("position_embedding", {context = "number", kind = "string"}),
  attention = layer("attention", {heads = "number", causal = "boolean", init = "string"}),
  transformer_block = layer("transformer_block", {heads = "number", hidden = "number", dropout = "number", causal = "boolean", init = "string"}),
}
