-- expect: 2 300 script arguments is more than the 256
-- args: 300
print(select("#", ...))
