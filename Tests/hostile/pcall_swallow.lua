-- expect: 3 sandbox: instruction limit exceeded
-- A pcall cannot swallow the limit: the hook raises again at once.
while true do pcall(function() while true do end end) end
