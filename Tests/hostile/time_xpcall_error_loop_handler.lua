-- expect: 3 limit exceeded
xpcall(error, function(m) while true do end end, "boom")
