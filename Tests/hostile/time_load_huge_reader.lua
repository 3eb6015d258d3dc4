-- expect: 1 sandbox: load of more than 1048576 bytes
local piece = ("x=1 "):rep(100000)
assert(load(function() return piece end))
