-- expect: 3 limit exceeded
local t = setmetatable({}, {__index = function() return "" end})
print(#table.concat(t, "", 1, 1 << 62))
