-- expect: 3 limit exceeded
local src = ("x=1 "):rep(250000)
while true do load(src) end
