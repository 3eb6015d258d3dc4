-- expect: 3 sandbox: memory limit exceeded
print(pcall(function() local t = {} while true do t[#t + 1] = {} end end))
print("still here")
