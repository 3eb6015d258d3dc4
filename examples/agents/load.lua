-- load.lua — stage 1 of the pipeline (profile pipeline.yaml): makes data sets and passes them
-- on; put waits while the buffer is full (back-pressure from a slower stage).
local gpu = require "gpu"
local s = gpu.stage()
local n = arg[1] == "--quick" and 4 or 10
for i = 1, n do s.output:put({i = i, data = gpu.data.blobs{samples = 300, features = 8, centers = 3, seed = i}:standardize()}) end
local st = s.output:stats()
print(("load: %d sets sent, buffer peak %d of %d, waited %.3f s for room"):format(n, st.peak_occupancy, st.capacity, st.producer_wait_s))
