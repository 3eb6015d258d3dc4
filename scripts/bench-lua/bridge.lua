-- The suite's Lua-bridge row: seconds per call of a trivial gpu function (gpu.now), of a plain
-- Lua function for scale, and per element to move a 1M-float array into a tensor and back.
-- Peer for the array: copying the same table into a new Lua table in a plain loop.
-- Prints: calls, s/gpu call, s/lua call, elements, s/element in, s/element out, s/element Lua copy.
local gpu = require "gpu"
local n = tonumber(arg[1]) or 1000000
local now = gpu.now
local t0 = now()
for _ = 1, n do now() end
local per_call = (now() - t0) / n
local function plain() return 0 end
t0 = now()
for _ = 1, n do plain() end
local per_lua = (now() - t0) / n
local xs = {}
for i = 1, n do xs[i] = i * 0.5 end
t0 = now()
local t = gpu.tensor(xs)
local per_in = (now() - t0) / n
t0 = now()
local back = t:to_table()
local per_out = (now() - t0) / n
assert(#back == n and back[n] == n * 0.5, "the array came back changed")
t0 = now()
local copy = {}
for i = 1, n do copy[i] = xs[i] end
local per_copy = (now() - t0) / n
assert(#copy == n)
print(("%d\t%.3e\t%.3e\t%d\t%.3e\t%.3e\t%.3e"):format(n, per_call, per_lua, n, per_in, per_out, per_copy))
