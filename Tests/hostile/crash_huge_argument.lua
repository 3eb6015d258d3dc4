-- expect: 2 script argument 1 is 70000 bytes
-- argument-bytes: 70000
print(#(...))
