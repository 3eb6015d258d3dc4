-- expect: 0
local gpu = require "gpu"
local ds = gpu.data.from_table{features = {{1}, {2}}, labels = {{0, 1}, {1, 0}}}
local parts = ds:split{train = 0.9, test = 0.1, seed = 1}
print(parts.train.rows, parts.test.rows, parts.test.target_width)
