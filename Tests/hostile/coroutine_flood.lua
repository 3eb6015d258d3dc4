-- expect: 3 sandbox: memory limit exceeded
local cs = {}
for i = 1, 1e8 do cs[i] = coroutine.create(function() end) end
