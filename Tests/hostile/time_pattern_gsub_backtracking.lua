-- expect: 3 limit exceeded
print((("ab"):rep(3000)):gsub(("%w*"):rep(10) .. "!", ""))
