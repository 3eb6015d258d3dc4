-- expect: 3 sandbox: memory limit exceeded
-- profile: sandbox_4mb.yaml
-- Fill the heap to within a few KB of the budget, then await: the host pushes the result
-- where the allocator would refuse (issue 15's reproduction); the result must be exit 3, not a signal.
local gpu = require "gpu"
local ds = gpu.data.blobs{samples = 200, features = 4, centers = 2, seed = 1}
local h = gpu.submit(gpu.training{model = gpu.nn.mlp{inputs = 4, hidden = {8}, outputs = 2, seed = 1}, data = ds, epochs = 2})
local keep = {}
while collectgarbage("count") < 4096 - 24 do keep[#keep + 1] = ("x"):rep(512) .. #keep end
local r = h:await()
local more = {}
for i = 1, 1e6 do more[i] = {r, i} end
