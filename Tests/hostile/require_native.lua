-- expect: 1 module 'gpu.native' not found
local native = require "gpu.native"
native.stage_store("k", "train", 42)
