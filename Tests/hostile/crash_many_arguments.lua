-- expect: 0
-- args: 60
-- stdout: 60
print(select("#", ...))
