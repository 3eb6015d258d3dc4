-- expect: 3 sandbox: memory limit exceeded
print(pcall(function() local l while true do l = {l} end end))
