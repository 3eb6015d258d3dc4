-- prelude.lua: run once in every job's state before the script.
--
-- 1. print goes through the host (so tests and servers can capture it).
-- 2. handle:await() yields a token to the host. When a script awaits inside its own coroutine,
--    these wrappers pass that yield up to the host and hand the answer back down, so await works
--    at any depth of user coroutines.
local native = require "gpu.native"

-- require records the user modules it loads (with their hashes) for the run's manifest.
local raw_require, searchpath = require, package.searchpath
function require(name)
  local fresh = package.loaded[name] == nil and package.preload[name] == nil
  local ok, m = pcall(raw_require, name)
  if not ok then  -- the loader's own message, not one pointing into this wrapper
    error((type(m) == "string" and m:gsub("^stdlib/gpu/prelude%.lua:%d+: ", "") or m), 0)
  end
  if fresh then
    local path = searchpath(name, package.path)
    if path then native.note_module(name, path) end
  end
  return m
end
local AWAIT = native.AWAIT
local write, tostring, select, concat = native.write, tostring, select, table.concat

function print(...)
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do parts[i] = tostring((select(i, ...))) end
  write(concat(parts, "\t") .. "\n")
end

local raw_resume, raw_status, raw_yield = coroutine.resume, coroutine.status, coroutine.yield
local pack, unpack = table.pack, table.unpack

-- Resume `co`; while it yields an await, forward it to our own resumer and feed the reply back.
local function forwarding_resume(co, ...)
  local r = pack(raw_resume(co, ...))
  while r[1] and r[2] == AWAIT and raw_status(co) == "suspended" do
    local reply = pack(raw_yield(AWAIT, r[3]))
    r = pack(raw_resume(co, unpack(reply, 1, reply.n)))
  end
  return unpack(r, 1, r.n)
end

coroutine.resume = forwarding_resume

function coroutine.wrap(f)
  local co = coroutine.create(f)
  return function(...)
    local r = pack(forwarding_resume(co, ...))
    if not r[1] then error(r[2], 2) end
    return unpack(r, 2, r.n)
  end
end
