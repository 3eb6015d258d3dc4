-- expect: 3 limit exceeded
local function h(m) return xpcall(function() while true do end end, h) end
xpcall(function() error("x") end, h)
