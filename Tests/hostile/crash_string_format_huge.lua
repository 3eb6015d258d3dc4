-- expect: 3 sandbox: memory limit exceeded
print(#string.format("%s%s", ("x"):rep(16000000), ("y"):rep(16000000)))
