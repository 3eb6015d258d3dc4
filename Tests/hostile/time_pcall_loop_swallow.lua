-- expect: 3 limit exceeded
while true do pcall(string.rep, "x", 10) end
