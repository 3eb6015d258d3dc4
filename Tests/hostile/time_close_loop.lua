-- expect: 1 unwind
local x <close> = setmetatable({}, {__close = function() while true do end end})
error("unwind")
