-- expect: 3 limit exceeded
local s = ("x"):rep(16000000)
while true do s:gsub(".", string.upper) end
