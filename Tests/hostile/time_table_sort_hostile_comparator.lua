-- expect: 3 limit exceeded
local t = {}
for i = 1, 200000 do t[i] = i end
while true do table.sort(t, function(a, b) return math.random() < 0.5 end) end
