-- expect: 0
-- stdout: nil
local workflow = require "workflow"
print(workflow.native)
