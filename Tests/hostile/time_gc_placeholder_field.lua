-- expect: 1 sandbox: metatables with __gc are not allowed
local mt = {__gc = true}
setmetatable({}, mt)
mt.__gc = function() while true do end end
