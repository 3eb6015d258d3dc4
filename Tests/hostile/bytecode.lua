-- expect: 1 sandbox: binary chunks cannot be loaded
local f = assert(load(string.char(27) .. "LuaT\0\25\147\r\n\26\n"))
