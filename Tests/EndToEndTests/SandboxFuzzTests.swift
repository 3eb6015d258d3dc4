import Foundation
import GPUFlowTesting
import Testing

/// Random hostile scripts, seeded, must never end the process by a signal.
///
/// A seeded generator of hostile scripts: random statements built from the attack classes of
/// issue 14 (runaway loops, memory bombs, pattern backtracking, raising metamethods, loops in
/// handlers and coroutines, every gpu binding called with hostile values, deep recursion, bad
/// requires and tampering), nested in pcall, xpcall and coroutines, run several at once per
/// process under tight limits. The claim under test: no script ever ends the process by a
/// signal, and every run ends with a documented exit code (0, 1, 2 or 3).
///
/// `GPUFLOW_FUZZ_SCRIPTS` sets how many scripts (default 160), `GPUFLOW_FUZZ_SEED` the seed.
@Suite struct SandboxFuzzTests {
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let values = [
        "nil", "1e308", "-1", "math.huge", "0/0", "(1 << 62)", "'x'", "{}", "{1, 2, 3}", "('x'):rep(1000)",
        "setmetatable({}, {__index = function(_, k) error('index ' .. tostring(k)) end})",
        "setmetatable({}, {__len = function() return 1 << 62 end})",
        "setmetatable({}, {__pairs = function() error('pairs') end})",
        "setmetatable({}, {__tostring = function() error('tostring') end})",
        "setmetatable({}, {__index = function() while true do end end})",
        "{shape = {1e9, 1e9}}", "{shape = {1 << 20, 64}}", "{samples = 1e12, features = 1e5}", "{centers = 1e5, features = 1e5}",
        "{inputs = {}, outputs = 'z'}", "{inputs = 1 << 30, outputs = 1 << 30}", "function() end", "coroutine.create(function() end)",
        "{[1 << 40] = 1, [1] = 1}", "{key = 'k', task = function() end}", "{{key = 'a', task = function() end, after = {'a'}}}",
        "{model = 1, data = 2, epochs = -3}", "{n = 1e9}", "{1, {2, {3, {4}}}}", "(function() local t = {} t.t = t return t end)()",
    ]

    static let bindings = [
        "gpu.tensor(V)", "gpu.submit(V)", "gpu.submit(function() return V end):await()", "gpu.data.blobs(V)", "gpu.data.spirals(V)",
        "gpu.nn.mlp(V)", "gpu.training(V)", "gpu.inference(V)", "gpu.optimization(V)", "gpu.submit_graph(V)", "gpu.channel(V)",
        "gpu.optimize_scheduling(V)", "gpu.status(V)", "gpu.cancel(V)", "gpu.adam(V)", "gpu.rmsprop(V)", "gpu.reinforcement(V)",
        "gpu.data.csv(V)",
        "gpu.nn.load(V)", "gpu.tensor{shape = {4}}:to_table(V)", "gpu.coordinate(V)", "gpu.time_sliced(V)", "gpu.seed(V)",
        "gpu.nn.sequential(V)", "gpu.nn.sequential{inputs = 2, V}", "gpu.nn.sequential{inputs = 2, gpu.nn.residual{V}}",
        "gpu.nn.linear(V)", "gpu.nn.dropout(V)", "gpu.nn.residual(V)",
        "gpu.submit(gpu.training{model = gpu.nn.sequential{inputs = 2, gpu.nn.linear{outputs = 2}}, data = V}):await()",
        "gpu.submit(gpu.training{model = gpu.nn.mlp{inputs = 2, outputs = 2}, environment = {name = 'walk', observations = 2, "
            + "actions = 2, max_steps = 3, new = function() return V end}, algorithm = gpu.reinforcement{episodes = 2, "
            + "parallel_episodes = 1}}):await()",
    ]

    static let statements = [
        "while true do end", "for i = 1, N do end", "local t = {} for i = 1, N do t[i] = ('x'):rep(N) end",
        "local l while true do l = {l} end", "local s = 'x' while true do s = s .. s end",
        "string.find(('a'):rep(N), ('a*'):rep(K) .. 'b')", "(('x'):rep(N)):gsub('.', string.upper)",
        "(('ab'):rep(N)):match(('%w-'):rep(K) .. '!')", "for w in (('a'):rep(N)):gmatch(('a*'):rep(K) .. 'c') do end",
        "error({})", "error(setmetatable({}, {__tostring = error}))", "error(('e'):rep(N))", "error(V)",
        "local function f() return f() + 1 end f()", "local function f(n) return coroutine.wrap(function() return f(n + 1) end)() end f(1)",
        "table.sort({3, 1, 2}, function() error('cmp') end)", "table.concat({{}})", "table.move({}, 1, 1 << 62, 1)",
        "table.insert(V, N, 1)", "table.sort(V)", "table.unpack({}, 1, 1e7)",
        "rawset(gpu, 'submit', 1)", "setmetatable(gpu, {})", "require(V)", "require 'modules.loop_a'", "require('modules.bytecode_mod')",
        "load(('x = 1 '):rep(N))()", "load(function() return nil end)", "print(('p'):rep(N))", "print(V)", "tostring(V)",
        "for k, v in pairs(V) do end", "local x = #V", "local y = V .. 'x'", "local z = V + 1", "collectgarbage('stop')",
        "setmetatable({}, {__gc = function() while true do end end})", "coroutine.yield(V)", "string.rep('x', N, ('s'):rep(N))",
        "xpcall(error, function() while true do end end)", "gpu.submit(function() while true do end end):await()",
    ]

    static func statement(_ rng: inout SplitMix, depth: Int = 0) -> String {
        let n = [10, 1000, 100_000, 10_000_000, 1 << 40].randomElement(using: &rng) ?? 10
        let k = Int.random(in: 2...25, using: &rng)
        func value() -> String { values.randomElement(using: &rng) ?? "nil" }
        var s: String
        if Bool.random(using: &rng) {
            s = (bindings.randomElement(using: &rng) ?? "").replacingOccurrences(of: "V", with: value())
        } else {
            s = (statements.randomElement(using: &rng) ?? "").replacingOccurrences(of: "V", with: value())
        }
        s = s.replacingOccurrences(of: "N", with: String(n)).replacingOccurrences(of: "K", with: String(k))
        guard depth < 3 else { return s }
        switch Int.random(in: 0..<6, using: &rng) {
        case 0: return "pcall(function() \(s) end)"
        case 1: return "xpcall(function() \(s) end, function(m) \(statement(&rng, depth: depth + 1)) end)"
        case 2: return "coroutine.wrap(function() \(s) end)()"
        case 3: return "pcall(function() \(s) end) \(statement(&rng, depth: depth + 1))"
        default: return s
        }
    }

    static func script(_ rng: inout SplitMix) -> String {
        var lines = ["local gpu = require 'gpu'"]
        // Most statements under pcall, so that a script goes on to the next attack after one fails.
        for _ in 0..<Int.random(in: 1...5, using: &rng) {
            let s = statement(&rng)
            lines.append(Int.random(in: 0..<10, using: &rng) < 7 ? "pcall(function() \(s) end)" : s)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    @Test func randomHostileScriptsNeverEndTheProcessBySignal() throws {
        let env = ProcessInfo.processInfo.environment
        let total = env["GPUFLOW_FUZZ_SCRIPTS"].flatMap(Int.init) ?? 160
        var rng = SplitMix(state: env["GPUFLOW_FUZZ_SEED"].flatMap(UInt64.init) ?? 14)
        let dir = try TestPaths.temporaryDirectory()
        let hostile = TestPaths.repository.appendingPathComponent("Tests/hostile/modules")
        try FileManager.default.createSymbolicLink(at: dir.appendingPathComponent("modules"), withDestinationURL: hostile)
        try """
        learning: {history: none}
        store: {path: none}
        sandbox: {enabled: true, instructions: 5000000, memory_mb: 16, wall_s: 2, max_depth: 200, max_output_kb: 16, max_tasks: 20}
        """.write(to: dir.appendingPathComponent("tight.yaml"), atomically: true, encoding: .utf8)
        let perProcess = 8
        var codes: [Int32: Int] = [:]
        let started = Date()
        for batch in stride(from: 0, to: total, by: perProcess) {
            var names: [String] = []
            for i in batch..<min(total, batch + perProcess) {
                let name = "fuzz_\(i).lua"
                try Self.script(&rng).write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8)
                names.append(name)
            }
            let out = try CLIRunner.run(["run"] + names + ["--profile", "tight.yaml", "--backend", "simd"], currentDirectory: dir.path)
            let texts = names.map { (try? String(contentsOf: dir.appendingPathComponent($0), encoding: .utf8)) ?? "" }
            #expect(
                !out.signalled,
                "scripts \(names) ended the process by signal \(out.status):\n\(texts.joined(separator: "\n----\n"))\n\(out.stderr.suffix(3000))"
            )
            #expect([0, 1, 2, 3].contains(out.status), "exit \(out.status) for \(names): \(out.stderr.suffix(2000))")
            codes[out.status, default: 0] += 1
        }
        print(
            "sandbox fuzz: \(total) scripts in \((total + perProcess - 1) / perProcess) processes, "
                + "\(String(format: "%.1f", Date().timeIntervalSince(started))) s, exit codes \(codes.sorted { $0.key < $1.key })")
    }

    /// Every function of every gpu module (found by walking the modules, so a new binding is
    /// covered without a change here) called with every hostile value, alone, twice, and inside
    /// a table of options, and every method of every object type the same way, under a 16 MB
    /// budget: sandboxed, and unsandboxed with a memory limit (where `__gc` metatables are allowed).
    @Test(arguments: [true, false])
    func everyBindingWithHostileValuesEndsByAnExitCode(sandboxed: Bool) throws {
        let box = try CLISandbox()
        try box.write(
            "p.yaml",
            """
            learning: {history: none}
            store: {path: none}
            sandbox: {enabled: \(sandboxed), instructions: 400000000, memory_mb: 16, wall_s: 60, max_depth: 200, max_output_kb: 256, max_tasks: 100000}
            """)
        let gc = sandboxed ? "" : "setmetatable({}, {__gc = function() error('gc') end}),"
        let script = try box.write(
            "sweep.lua",
            """
            local gpu = require "gpu"
            local modules = {gpu = gpu, nn = require "gpu.nn", data = require "gpu.data", metrics = require "gpu.metrics",
                             workflow = require "workflow"}
            local function hostile()
              return {0, -1, 1e308, 0/0, math.huge, 1 << 62, "", "x", ("x"):rep(100000), true, {}, {1, 2, 3}, {{}},
                print, coroutine.create(function() end),
                setmetatable({}, {__index = function(_, k) error("index " .. tostring(k)) end}),
                setmetatable({}, {__len = function() error("len") end}),
                setmetatable({}, {__len = function() return 1 << 62 end}),
                setmetatable({}, {__pairs = function() error("pairs") end}),
                setmetatable({}, {__tostring = function() error("tostring") end}),
                setmetatable({}, {__newindex = function() error("newindex") end}),
                \(gc)
                {shape = {1 << 30, 1 << 30}}, {samples = 1e12, features = 1e5, centers = 1e5}, {inputs = 1 << 30, outputs = 1 << 30},
                {key = "k", task = function() end}, {1, n = 1e9}}
            end
            local calls, failures = 0, 0
            local function try(f, ...)
              calls = calls + 1
              if not pcall(f, ...) then failures = failures + 1 end
            end
            local function sweep(f)
              for _, v in ipairs(hostile()) do
                try(f, v); try(f, v, v); try(f, {v}); try(f, {model = v, data = v, epochs = v, shape = v, name = v, after = v})
              end
              try(f); try(f, nil, 0)
            end
            for name, m in pairs(modules) do
              for k, f in pairs(m) do
                if type(f) == "function" and k ~= "await_all" then sweep(f) end
              end
            end
            local objects = {gpu.tensor{1, 2, 3}, gpu.data.blobs{samples = 30, features = 2, seed = 1}, gpu.nn.mlp{inputs = 2, outputs = 2}}
            for _, o in ipairs(objects) do
              for _, method in ipairs{"save", "standardize", "split", "one_hot", "normalize", "size", "sum", "mean", "to_table"} do
                local ok, f = pcall(function() return o[method] end)
                if ok and type(f) == "function" then sweep(function(...) return f(o, ...) end) end
              end
              for _, v in ipairs(hostile()) do try(function() return o[v] end) end
            end
            print("calls", calls, "failures", failures)
            """)
        let out = try box.run(["run", script, "--profile", "p.yaml", "--backend", "simd"])
        #expect(!out.signalled, "ended by signal \(out.status): \(out.stderr.suffix(3000))")
        #expect([0, 1, 2, 3].contains(out.status), "exit \(out.status): \(out.stderr.suffix(2000))")
        print(
            "binding sweep (sandboxed: \(sandboxed)): exit \(out.status), \(out.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), \(out.firstErrorLine.prefix(200))"
        )
    }
}
