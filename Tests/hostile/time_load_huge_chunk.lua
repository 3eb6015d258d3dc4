-- expect: 1 sandbox: load of a 4000000-byte chunk is over the 1048576-byte limit
load(("x=1 "):rep(1000000))
