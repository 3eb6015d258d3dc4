-- expect: 3 sandbox: call depth limit exceeded
local function nest(level)
  local function rec(d)
    if d < 180 then return rec(d + 1) + 0 end
    if level < 150 then
      local ok, err = coroutine.resume(coroutine.create(nest), level + 1)
      if not ok then error(err, 0) end
    end
    return 0
  end
  return rec(1)
end
nest(1)
