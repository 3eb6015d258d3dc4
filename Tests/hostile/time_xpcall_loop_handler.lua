-- expect: 3 limit exceeded
xpcall(function() while true do end end, function(m) while true do end end)
