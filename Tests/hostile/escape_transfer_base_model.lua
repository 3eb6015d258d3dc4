-- expect: 1 sandbox: base_model may only use files in the job's folder
local gpu = require "gpu"
local d = gpu.data.blobs{samples = 64, features = 2, centers = 2}
gpu.training{data = d, epochs = 1, algorithm = gpu.transfer{base_model = "/etc/passwd"}}
