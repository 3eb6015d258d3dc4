-- expect: 3 sandbox: instruction limit exceeded
while true do end
