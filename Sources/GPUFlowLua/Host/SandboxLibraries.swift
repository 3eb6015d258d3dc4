/// What an untrusted script may reach (`gpuflow run --sandbox`, or `sandbox: {enabled: true}`):
/// after the stdlib modules have loaded (they keep what they need in their own upvalues), the
/// globals are narrowed — after Luau's sandbox and the Redis scripting CVEs (package.loadlib,
/// bytecode through loadstring):
///   - no io, no debug, no dofile/loadfile, no string.dump; os keeps clock, time and date only;
///   - no `package`: `require` finds modules only in the stdlib and the job's folder, loads text
///     only, and its search path, searchers and loaded table are not the script's;
///   - `gpu.native` (the bindings under the stdlib) is not reachable: the stage cache, say, is
///     used only through `workflow.stage`;
///   - load accepts text only (mode "t"; a chunk starting with ESC is refused), at most 1 MiB
///     of it (the parser runs in one C call), and a chunk cannot name itself after a file
///     (`@/etc/shadow`);
///   - collectgarbage can count and collect, not stop the collector or change its tuning;
///   - string.rep is bounded (a memory bomb fails before it allocates); string.find, match,
///     gmatch and gsub count their steps as instructions (gf_patterns.c, for every state);
///   - table.move, insert, remove, concat and sort are Lua code, so the count hook sees every
///     step: in C, `table.move({}, 1, 1 << 62, 1)` ran past every limit;
///   - xpcall's message handler runs after the error has unwound: Lua runs a handler with hooks
///     off when the error came from the hook, so a looping handler dodged every limit;
///   - setmetatable refuses a metatable with `__gc`: finalizers run with hooks off, during
///     collection and at close;
///   - the gpu modules are read-only proxies with locked metatables, and rawset refuses them;
///   - the string metatable is locked.
/// Memory, instructions, wall time, call depth, output and task count are limited elsewhere
/// (the allocator, the count hook, the host's watchdog, the print and submit bindings).
enum SandboxLibraries {
    static let code = """
        local raw_setmetatable, raw_getmetatable, error, type, next, tostring, select = setmetatable, getmetatable, error, type, next, tostring, select
        local raw_rawget, raw_rawset, pcall = rawget, rawset, pcall
        local pack, unpack, raw_concat = table.pack, table.unpack, table.concat
        local math_type, floor = math.type, math.floor
        local loaded = package.loaded
        local native = loaded["gpu.native"]
        local trip, find_module = native.sandbox_trip, native.sandbox_module
        for _, name in ipairs{"gpu", "gpu.nn", "gpu.data", "gpu.metrics", "workflow"} do require(name) end

        local proxies = raw_setmetatable({}, {__mode = "k"})
        local function readonly(t, name)
          local proxy = {}
          raw_setmetatable(proxy, {
            __index = t,
            __newindex = function(_, k) error(("sandbox: %s is read-only (cannot set '%s')"):format(name, tostring(k)), 2) end,
            -- An iterator over t that does not hand t itself out (next, t, nil would).
            __pairs = function()
              local k
              return function()
                local v
                k, v = next(t, k)
                return k, v
              end
            end,
            __len = function() return #t end,
            __metatable = "locked",
          })
          proxies[proxy] = name
          return proxy
        end

        -- The modules a script may require, by name: the standard libraries it has, the gpu
        -- modules (read-only), and what it loads itself from the stdlib or its own folder.
        local modules = {}
        for _, name in ipairs{"gpu", "gpu.nn", "gpu.data", "gpu.metrics", "workflow"} do
          modules[name] = readonly(loaded[name], name)
        end
        local os_clock, os_time, os_date = os.clock, os.time, os.date
        local safe_os = readonly({clock = os_clock, time = os_time, date = os_date}, "os")
        modules.os = safe_os
        for _, name in ipairs{"string", "table", "math", "utf8", "coroutine"} do modules[name] = loaded[name] end
        modules._G = _G

        local raw_load = load
        -- The parser runs in one C call: a chunk is at most LOAD_LIMIT bytes, so one load is short.
        local load_limit = LOAD_LIMIT
        local function text_load(chunk, name, mode, env)
          if mode ~= nil and mode ~= "t" then error("sandbox: load accepts text chunks only (mode 't')", 2) end
          if type(chunk) == "string" and chunk:byte(1) == 27 then error("sandbox: binary chunks cannot be loaded", 2) end
          if type(chunk) == "string" and #chunk > load_limit then
            error(("sandbox: load of a %d-byte chunk is over the %d-byte limit"):format(#chunk, load_limit), 2)
          end
          if type(chunk) == "function" then
            local reader, total = chunk, 0
            chunk = function()
              local piece = reader()
              if type(piece) == "string" then
                total = total + #piece
                if total > load_limit then error(("sandbox: load of more than %d bytes"):format(load_limit), 0) end
              end
              return piece
            end
          end
          -- "@name" means "the file name": only the host names files.
          if type(name) == "string" and name:byte(1) == 64 then name = "=" .. name:sub(2) end
          if env == nil then return raw_load(chunk, name, "t") end
          return raw_load(chunk, name, "t", env)
        end

        local loading = {}
        function require(name)
          if type(name) ~= "string" then error(("bad argument #1 to 'require' (string expected, got %s)"):format(type(name)), 2) end
          local m = modules[name]
          if m ~= nil then return m end
          if loading[name] then error(("require: module '%s' requires itself (a loop)"):format(name), 2) end
          local text, path = find_module(name)
          if not text then error(path, 2) end
          local f, err = raw_load(text, "@" .. path, "t")
          if not f then error(err, 0) end
          loading[name] = true
          local ok, result = pcall(f, name, path)
          loading[name] = nil
          if not ok then error(result, 0) end
          if result == nil then result = true end
          modules[name] = result
          return result
        end

        os = safe_os
        io, debug, package = nil, nil, nil
        dofile, loadfile = nil, nil
        string.dump = nil
        load = text_load
        -- The stdlib keeps its own references; the script has no way left to the loaded table.
        for k in next, loaded do loaded[k] = nil end

        local raw_collect = collectgarbage
        collectgarbage = function(opt, ...)
          opt = opt or "collect"
          if opt ~= "collect" and opt ~= "count" and opt ~= "step" then
            error(("sandbox: collectgarbage('%s') is not allowed"):format(tostring(opt)), 2)
          end
          return raw_collect(opt, ...)
        end

        rawset = function(t, k, v)
          if proxies[t] then error(("sandbox: %s is read-only (cannot set '%s')"):format(proxies[t], tostring(k)), 2) end
          return raw_rawset(t, k, v)
        end

        setmetatable = function(t, mt)
          if type(mt) == "table" and raw_rawget(mt, "__gc") ~= nil then
            error("sandbox: metatables with __gc are not allowed (finalizers run where no limit reaches)", 2)
          end
          return raw_setmetatable(t, mt)
        end

        xpcall = function(f, handler, ...)
          local r = pack(pcall(f, ...))
          if r[1] then return unpack(r, 1, r.n) end
          return false, select(2, pcall(handler, r[2]))
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

        -- The table library in Lua: the same results and errors, every step under the hook.
        local function int_arg(v, n, fname, default)
          if v == nil and default ~= nil then return default end
          if math_type(v) == "integer" then return v end
          if type(v) == "number" and v == floor(v) then return floor(v) end
          error(("bad argument #%d to '%s' (number has no integer representation)"):format(n, fname), 3)
        end
        local function check_table(t, n, fname)
          if type(t) ~= "table" then error(("bad argument #%d to '%s' (table expected, got %s)"):format(n, fname, type(t)), 3) end
        end
        local T = {}
        function T.move(a1, f, e, t, a2)
          check_table(a1, 1, "move")
          a2 = a2 == nil and a1 or a2
          check_table(a2, 5, "move")
          f, e, t = int_arg(f, 2, "move"), int_arg(e, 3, "move"), int_arg(t, 4, "move")
          if e >= f then
            if t > e or t <= f or a1 ~= a2 then
              for i = 0, e - f do a2[t + i] = a1[f + i] end
            else
              for i = e - f, 0, -1 do a2[t + i] = a1[f + i] end
            end
          end
          return a2
        end
        function T.insert(t, ...)
          check_table(t, 1, "insert")
          local n, e = select("#", ...), #t + 1
          if n == 1 then t[e] = ...; return end
          if n ~= 2 then error("wrong number of arguments to 'insert'", 2) end
          local pos, v = ...
          pos = int_arg(pos, 2, "insert")
          if pos < 1 or pos > e then error("bad argument #2 to 'insert' (position out of bounds)", 2) end
          for i = e, pos + 1, -1 do t[i] = t[i - 1] end
          t[pos] = v
        end
        function T.remove(t, pos)
          check_table(t, 1, "remove")
          local size = #t
          pos = int_arg(pos, 2, "remove", size)
          if pos ~= size and (pos < 1 or pos > size + 1) then error("bad argument #2 to 'remove' (position out of bounds)", 2) end
          local v = t[pos]
          while pos < size do t[pos] = t[pos + 1]; pos = pos + 1 end
          t[pos] = nil
          return v
        end
        function T.concat(t, sep, i, j)
          check_table(t, 1, "concat")
          sep = sep == nil and "" or sep
          i, j = int_arg(i, 3, "concat", 1), int_arg(j, 4, "concat", #t)
          local parts, n = {}, 0
          for k = i, j do
            local v = t[k]
            if type(v) ~= "string" and type(v) ~= "number" then
              error(("invalid value (at index %d) in table for 'concat'"):format(k), 2)
            end
            n = n + 1
            parts[n] = v
          end
          return raw_concat(parts, sep, 1, n)
        end
        -- Merge sort: O(n log n) comparisons whatever the comparator returns.
        function T.sort(t, lt)
          check_table(t, 1, "sort")
          if lt ~= nil and type(lt) ~= "function" then
            error(("bad argument #2 to 'sort' (function expected, got %s)"):format(type(lt)), 2)
          end
          lt = lt or function(a, b) return a < b end
          local n = #t
          local a, b = {}, {}
          for k = 1, n do a[k] = t[k] end
          local width = 1
          while width < n do
            local lo = 1
            while lo <= n do
              local mid, hi = lo + width, lo + 2 * width - 1
              if mid > n then
                for k = lo, n do b[k] = a[k] end
              else
                if hi > n then hi = n end
                local x, y, k = lo, mid, lo
                while x < mid and y <= hi do
                  if lt(a[y], a[x]) then b[k] = a[y]; y = y + 1 else b[k] = a[x]; x = x + 1 end
                  k = k + 1
                end
                for m = x, mid - 1 do b[k] = a[m]; k = k + 1 end
                for m = y, hi do b[k] = a[m]; k = k + 1 end
              end
              lo = lo + 2 * width
            end
            a, b = b, a
            width = width * 2
          end
          for k = 1, n do t[k] = a[k] end
        end
        for name, f in next, T do table[name] = f end

        raw_getmetatable("").__metatable = "locked"
        """

    /// The largest chunk `load` takes in the sandbox (parsing it takes a few tens of ms).
    static let loadLimit = 1 << 20

    static func restrict(_ job: LuaJob) throws {
        // A single string.rep may not take more than a quarter of the memory budget.
        let limit = max(1 << 20, (job.sandbox.memoryMB << 20) / 4)
        try job.runTrusted(
            code.replacingOccurrences(of: "REP_LIMIT", with: String(limit))
                .replacingOccurrences(of: "LOAD_LIMIT", with: String(loadLimit)), name: "=sandbox")
    }
}
