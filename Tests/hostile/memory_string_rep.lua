-- expect: 3 sandbox: memory limit exceeded
local s = string.rep("x", 1e9)
