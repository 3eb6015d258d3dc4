-- expect: 3 sandbox: output limit exceeded
while true do print(("x"):rep(1000)) end
