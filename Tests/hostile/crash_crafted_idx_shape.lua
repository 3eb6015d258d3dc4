-- expect: 2 holds more elements than any file can
local gpu = require "gpu"
gpu.data.idx{images = "fixtures/evil.idx", labels = "fixtures/evil.idx"}
