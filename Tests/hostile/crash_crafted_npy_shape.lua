-- expect: 2 holds more elements than any file can
local gpu = require "gpu"
gpu.data.npy("fixtures/evil.npy")
