-- expect: 1 xxxxxxxx
error(("x"):rep(10000000))
