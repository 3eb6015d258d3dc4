-- expect: 3 limit exceeded
print(string.find(("a"):rep(5000), ("a*"):rep(20) .. "b"))
