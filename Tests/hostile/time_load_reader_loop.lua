-- expect: 3 limit exceeded
load(function() while true do end end)
