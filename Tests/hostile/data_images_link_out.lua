-- expect: 1 sandbox: data.images may only use files in the job's folder
local gpu = require "gpu"
gpu.data.images("fixtures/pngs")
