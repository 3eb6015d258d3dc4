-- expect: 3 limit exceeded
for m in ("a"):rep(3000):gmatch(("a*"):rep(12) .. "c") do print(m) end
