-- expect: 1 sandbox: a task cannot be submitted as another agent
local gpu = require "gpu"
gpu.submit(function() end, {agent = "alice"})
