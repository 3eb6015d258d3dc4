-- expect: 3 limit exceeded
local co = coroutine.wrap(function() while true do end end)
co()
