-- expect: 3 sandbox: memory limit exceeded
-- rep of an empty string would spin in C for 1e15 iterations, where no hook reaches.
local s = ("").rep("", 1e15)
