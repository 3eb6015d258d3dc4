-- expect: 3 sandbox: memory limit exceeded
local l
while true do l = {l} end
