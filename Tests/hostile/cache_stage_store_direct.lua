-- expect: 1 attempt to index a nil value (field 'native')
local gpu = require "gpu"
gpu.native.stage_store("k", "train", 42)
