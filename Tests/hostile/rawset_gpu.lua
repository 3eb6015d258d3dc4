-- expect: 1 sandbox: gpu is read-only (cannot set 'submit')
local gpu = require "gpu"
rawset(gpu, "submit", function() return "mine" end)
