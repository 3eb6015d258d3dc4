-- expect: 1 sandbox: metatables with __gc are not allowed
setmetatable({}, {__gc = function() while true do end end})
collectgarbage()
