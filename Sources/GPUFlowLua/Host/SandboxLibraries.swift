/// What an untrusted script may reach (`gpuflow run --sandbox`, or `sandbox: {enabled: true}`):
/// after the stdlib modules have loaded (they keep what they need in their own upvalues), the
/// globals are narrowed — after Luau's sandbox and the Redis scripting CVEs (package.loadlib,
/// bytecode through loadstring):
///   - no io, no debug, no dofile/loadfile, no string.dump; os keeps clock, time and date only;
///   - load accepts text only (mode "t"; a chunk starting with ESC is refused);
///   - collectgarbage can count and collect, not stop the collector or change its tuning;
///   - string.rep is bounded (a memory bomb fails before it allocates);
///   - the gpu modules are read-only proxies with locked metatables;
///   - the string metatable is locked.
/// Memory, instructions, wall time, call depth, output and task count are limited elsewhere
/// (the allocator, the count hook, the print and submit bindings).
enum SandboxLibraries {
    static let code = """
    local setmetatable, error, type, next, tostring = setmetatable, error, type, next, tostring
    local loaded = package.loaded
    local trip = loaded["gpu.native"].sandbox_trip
    for _, name in ipairs{"gpu", "gpu.nn", "gpu.data", "gpu.metrics", "workflow"} do require(name) end

    local function readonly(t, name)
      local proxy = {}
      setmetatable(proxy, {
        __index = t,
        __newindex = function(_, k) error(("sandbox: %s is read-only (cannot set '%s')"):format(name, tostring(k)), 2) end,
        __pairs = function() return next, t, nil end,
        __len = function() return #t end,
        __metatable = "locked",
      })
      return proxy
    end
    for _, name in ipairs{"gpu", "gpu.nn", "gpu.data", "gpu.metrics", "workflow", "gpu.native"} do
      if type(loaded[name]) == "table" then loaded[name] = readonly(loaded[name], name) end
    end
    package.preload.gpu, package.preload["gpu.nn"], package.preload["gpu.data"] = nil, nil, nil

    local os_clock, os_time, os_date = os.clock, os.time, os.date
    local safe_os = readonly({clock = os_clock, time = os_time, date = os_date}, "os")
    os = safe_os
    loaded.os = safe_os
    io, loaded.io = nil, nil
    debug, loaded.debug = nil, nil
    dofile, loadfile = nil, nil
    string.dump = nil

    local raw_load = load
    load = function(chunk, name, mode, env)
      if mode ~= nil and mode ~= "t" then error("sandbox: load accepts text chunks only (mode 't')", 2) end
      if type(chunk) == "string" and chunk:byte(1) == 27 then error("sandbox: binary chunks cannot be loaded", 2) end
      return raw_load(chunk, name, "t", env)
    end

    local raw_collect = collectgarbage
    collectgarbage = function(opt, ...)
      opt = opt or "collect"
      if opt ~= "collect" and opt ~= "count" and opt ~= "step" then
        error(("sandbox: collectgarbage('%s') is not allowed"):format(tostring(opt)), 2)
      end
      return raw_collect(opt, ...)
    end

    -- Bounded in bytes and in repetitions: rep("", 1e15) would spin in C, where no hook reaches.
    local raw_rep, limit = string.rep, REP_LIMIT
    string.rep = function(s, n, sep)
      local len = #tostring(s) + (sep and #tostring(sep) or 0)
      if type(n) == "number" and (n > limit or len * n > limit) then
        trip("memory")
        error(("sandbox: string.rep of %.0f × %d bytes is over the %d-byte limit"):format(n, len, limit), 2)
      end
      return raw_rep(s, n, sep)
    end
    getmetatable("").__metatable = "locked"
    """

    static func restrict(_ job: LuaJob) throws {
        // A single string.rep may not take more than a quarter of the memory budget.
        let limit = max(1 << 20, (job.sandbox.memoryMB << 20) / 4)
        try job.runTrusted(code.replacingOccurrences(of: "REP_LIMIT", with: String(limit)), name: "=sandbox")
    }
}
