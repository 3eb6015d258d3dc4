-- expect: 1 attempt to index a nil value (global 'io')
print(io.open("/etc/passwd"):read("a"))
