-- expect: 3 limit exceeded
print(("a"):rep(4000):match(("a-"):rep(15) .. "b"))
