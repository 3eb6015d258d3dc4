-- gpu.nn: models.
--   nn.mlp{inputs, hidden = {...}, outputs, activation = "relu", seed}   today's fixed MLP
--   nn.sequential{inputs = N | data = ds, seed = S, layer, layer, ...}    a graph of ops
--     layers: nn.linear{outputs, bias = true}, nn.relu{}, nn.gelu{approximate = "tanh"},
--     nn.silu{}, nn.sigmoid{}, nn.tanh{}, nn.leaky_relu{slope = 0.01}, nn.layer_norm{eps},
--     nn.dropout{p}, nn.residual{layer, ...}, nn.embedding{dims = 8 | {column = dims}, columns = {...}}
--     (first; needs data = ds with categorical columns); every layer takes name = "..." too.
--   nn.load(path)            a model saved with model:save(path) (.gfmodel or safetensors)
-- Layers are plain descriptions: nothing runs in Lua inside a training step. Unknown keys are
-- refused at the line that wrote them; shapes are checked when nn.sequential builds the graph.
local native = require "gpu.native"

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
    local info = debug.getinfo(2, "Sl")
    if info then out.where = ("%s:%d"):format(info.short_src, info.currentline or 0) end
    return out
  end
end

return {
  mlp = native.nn_mlp,
  sequential = native.nn_sequential,
  load = native.nn_load,
  linear = layer("linear", {outputs = "number", bias = "boolean"}),
  relu = layer("relu", {}),
  gelu = layer("gelu", {approximate = "string"}),
  silu = layer("silu", {}),
  sigmoid = layer("sigmoid", {}),
  tanh = layer("tanh", {}),
  leaky_relu = layer("leaky_relu", {slope = "number"}),
  layer_norm = layer("layer_norm", {eps = "number"}),
  dropout = layer("dropout", {p = "number"}),
  residual = layer("residual", {}),
  embedding = layer("embedding", {dims = "number|table", columns = "table"}),
}
