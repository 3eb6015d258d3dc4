-- expect: 1 attempt to index a string value
getmetatable("").__index = function() return "pwned" end
