-- expect: 1 sandbox: data.csv may only use files in the job's folder, not /etc/passwd
local gpu = require "gpu"
gpu.data.csv("/etc/passwd")
