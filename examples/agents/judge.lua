-- judge.lua — stage 3: measures each model on its data.
local gpu = require "gpu"
local s = gpu.stage()
local sum, n = 0, 0
while true do
  local item = s.input:get()
  if not item then break end
  local r = gpu.submit(gpu.inference{model = item.model, data = item.data}):await()
  sum, n = sum + r.accuracy, n + 1
end
print(("judge: %d models, mean accuracy %.3f"):format(n, n > 0 and sum / n or 0))
