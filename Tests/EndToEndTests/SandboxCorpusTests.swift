import Foundation
import GPUFlowTesting
import Testing

/// The hostile corpus: each attack ends with its exit code and reason.
///
/// The hostile corpus (Tests/hostile/*.lua), one attack a file, grouped by the class of issue 14
/// it belongs to (the file name's first word: time, memory, crash, require, rawset, cache, ...).
/// Each file starts with `-- expect: CODE reason` (the exit code and a part of the first error
/// line), optionally followed by `-- args: N` (N arguments after --), `-- argument-bytes: N`
/// (one argument of N bytes), `-- profile: FILE` (instead of sandbox.yaml) and `-- stdout: TEXT`
/// (what the script must print). Every case must end by an exit code, never a signal; a case
/// stopped by a limit must end within its wall-time limit plus the watchdog's grace and the
/// start-up of a process on a loaded machine; nothing may appear outside the job's folder.
@Suite struct SandboxCorpusTests {
    static let folder = TestPaths.repository.appendingPathComponent("Tests/hostile")

    static var corpus: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { $0.hasSuffix(".lua") }.sorted()
    }

    /// The wall-time limit of sandbox.yaml.
    static let wallSeconds = 3.0

    struct Case {
        var code: Int32 = -1
        var reason = ""
        var arguments: [String] = []
        var profile = "sandbox.yaml"
        var stdout: String?

        init(file: String) throws {
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            for line in text.split(separator: "\n").prefix(8) where line.hasPrefix("-- ") {
                let body = line.dropFirst(3)
                guard let colon = body.firstIndex(of: ":") else { continue }
                let key = body[..<colon], value = body[body.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                switch key {
                case "expect":
                    code = Int32(value.prefix { $0.isNumber }) ?? -1
                    reason = value.drop { $0.isNumber }.trimmingCharacters(in: .whitespaces)
                case "args": arguments = (1...(Int(value) ?? 1)).map(String.init)
                case "argument-bytes": arguments = [String(repeating: "a", count: Int(value) ?? 1)]
                case "profile": profile = value
                case "stdout": stdout = value
                default: continue
                }
            }
        }

        func run(_ name: String, beside other: String? = nil) throws -> CLIRunner.Output {
            var args = ["run", name] + (other.map { [$0] } ?? []) + ["--profile", profile, "--backend", "simd"]
            if !arguments.isEmpty { args += ["--"] + arguments }
            return try CLIRunner.run(args, currentDirectory: folder.path)
        }
    }

    @Test(arguments: corpus)
    func hostileScriptIsStoppedWithItsReason(_ name: String) throws {
        let c = try Case(file: name)
        guard c.code >= 0 else { Issue.record("\(name) has no '-- expect: CODE reason' line"); return }
        let out = try c.run(name)
        #expect(!out.signalled, "\(name) ended by signal \(out.status): \(out.stderr.prefix(2000))")
        #expect(out.status == c.code, "\(name): exit \(out.status), expected \(c.code): \(out.stderr.prefix(2000))")
        #expect(c.code == 0 || out.firstErrorLine.contains(c.reason), "\(name): \(out.firstErrorLine.prefix(500))")
        if let expected = c.stdout {
            #expect(out.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == expected, "\(name) printed \(out.stdout.prefix(500))")
        }
        if c.code == 3 {
            // Limits are enforced from outside the VM: the watchdog's grace is 0.5 s; the rest is
            // room for a process start on a machine running the suite in parallel.
            #expect(out.seconds < Self.wallSeconds + 4, "\(name) took \(out.seconds) s")
        }
        #expect(!FileManager.default.fileExists(atPath: "/tmp/gpuflow-sandbox-escaped"))
    }

    /// Each time-class attack in one run with a well-behaved script beside it (two agents, one
    /// host thread): the attack ends with exit 3, and the good script still finishes its work.
    static var timeAttacks: [String] { corpus.filter { $0.hasPrefix("time_") && (try? Case(file: $0))?.code == 3 } }

    @Test(arguments: timeAttacks)
    func aGoodScriptBesideATimeAttackFinishes(_ name: String) throws {
        let good = try TestPaths.write(
            """
            local gpu = require "gpu"
            local ds = gpu.data.blobs{samples = 200, features = 4, centers = 2, seed = 1}
            local r = gpu.submit(gpu.training{model = gpu.nn.mlp{inputs = 4, hidden = {8}, outputs = 2, seed = 1}, data = ds, epochs = 2}):await()
            print("good finished", r.metrics.accuracy > 0)
            """, name: "good_\(name)")
        let c = try Case(file: name)
        let out = try c.run(name, beside: good)
        #expect(!out.signalled, "\(name) ended by signal \(out.status): \(out.stderr.prefix(2000))")
        #expect(out.status == 3, "\(name) beside a good script: exit \(out.status): \(out.stderr.prefix(2000))")
        #expect(
            out.stdout.contains("good finished\ttrue"),
            "\(name): the good script did not finish: \(out.stdout.prefix(500)) \(out.stderr.prefix(1000))")
    }

    @Test func wellBehavedWorkRunsInTheSandbox() throws {
        let script = try TestPaths.write(
            """
            local gpu = require "gpu"
            local ds = gpu.data.blobs{samples = 120, features = 4, centers = 2, seed = 1}
            local r = gpu.submit(gpu.training{model = gpu.nn.mlp{inputs = 4, hidden = {8}, outputs = 2, seed = 1}, data = ds, epochs = 3}):await()
            local t = {5, 3, 9, 1}
            table.sort(t)
            table.insert(t, 2, 7)
            print(os.time() > 0, os.clock() >= 0, math.floor(r.metrics.accuracy * 0) == 0, load("return 41 + 1")(),
                  table.concat(t, ","), table.remove(t), #table.move({1, 2, 3}, 1, 3, 2), ("a1b22"):gsub("%d+", "#"),
                  select(2, xpcall(error, function(m) return "handled " .. m end, "boom")))
            """, name: "fine.lua")
        let out = try CLIRunner.run([
            "run", script, "--profile", Self.folder.appendingPathComponent("sandbox.yaml").path, "--backend", "simd",
        ])
        #expect(
            out.status == 0 && out.stdout == "true\ttrue\ttrue\t42\t1,7,3,5,9\t9\t4\ta#b#\thandled boom\n", "\(out.stdout)\(out.stderr)")
        // --sandbox on the command line turns it on with default limits.
        let flag = try CLIRunner.run([
            "run", try TestPaths.write("print(io, os.execute, package)", name: "probe.lua"), "--sandbox", "--store", "none",
        ])
        #expect(flag.stdout == "nil\tnil\tnil\n")
    }

    @Test func anAgentsOwnLimitsReplaceTheProfiles() throws {
        let profile = try TestPaths.write(
            """
            store: {path: none}
            learning: {history: none}
            sandbox: {enabled: true, max_output_kb: 64}
            agents:
              tight: {sandbox: {max_output_kb: 1}}
              roomy: {}
            """, name: "agents.yaml")
        let script = try TestPaths.write("print(string.rep('x', 2000))", name: "chatty.lua")
        let tight = try CLIRunner.run(["run", script, "--profile", profile, "--agent", "tight"])
        #expect(tight.status == 3 && tight.firstErrorLine.contains("output limit exceeded (1 KB)"), "\(tight.stderr)")
        let roomy = try CLIRunner.run(["run", script, "--profile", profile, "--agent", "roomy"])
        #expect(roomy.status == 0, "\(roomy.stderr)")
    }

    /// The watchdog, seen from outside: with the count hook removed (fault injection: as if the
    /// script sat in a call no hook reaches), a sandboxed endless loop still ends with exit 3
    /// and the wall-time reason, and the run store records the run as failed rather than running.
    @Test func theWatchdogEndsAScriptNoHookReaches() throws {
        let box = try CLISandbox()
        try box.write("p.yaml", "learning: {history: none}\nsandbox: {enabled: true, instructions: 1000, wall_s: 1}\n")
        let script = try box.write("spin.lua", "print('started')\nwhile true do end\n")
        let out = try box.run(["run", script, "--profile", "p.yaml", "--backend", "simd"], extra: ["GPUFLOW_FAULT_NO_HOOK": "1"])
        #expect(!out.signalled && out.status == 3, "exit \(out.status): \(out.stderr)")
        #expect(
            out.firstErrorLine.contains("sandbox: wall-time limit exceeded") && out.firstErrorLine.contains("the process was ended"),
            "\(out.stderr)")
        #expect(out.seconds < 1 + 4, "took \(out.seconds) s")
        let runs = try box.run(["runs", "list"])
        #expect(
            runs.stdout.contains("failed") && !runs.stdout.contains("running") && !runs.stdout.contains("interrupted"), "\(runs.stdout)")
    }

    /// A stage's key must not depend on a file outside the job's folder: a chunk named after a
    /// file (`@/path`) would otherwise make the cache an oracle for that file's contents.
    @Test func aStageKeyIsNoOracleForFilesOutsideTheJob() throws {
        let box = try CLISandbox()
        let secret = try TestPaths.write("first secret\n", name: "secret-\(UUID().uuidString).txt")
        let jobDir = box.dir.appendingPathComponent("job")
        try FileManager.default.createDirectory(at: jobDir, withIntermediateDirectories: true)
        let script = jobDir.appendingPathComponent("probe.lua").path
        try """
        local workflow = require "workflow"
        local f = load("return function() print('computed') return 1 end", "@\(secret)")()
        print(workflow.stage("probe", {}, f))
        """.write(toFile: script, atomically: true, encoding: .utf8)
        let first = try box.run(["run", script, "--sandbox", "--backend", "simd"])
        #expect(first.status == 0 && first.stdout.contains("computed"), "\(first.stdout)\(first.stderr)")
        try "another secret, longer\n".write(toFile: secret, atomically: true, encoding: .utf8)
        let second = try box.run(["run", script, "--sandbox", "--backend", "simd"])
        #expect(second.status == 0 && !second.stdout.contains("computed"), "the key changed with a file outside the job: \(second.stdout)")
    }

    /// One agent cannot poison another's cached stage.
    ///
    /// Keys are scoped by agent, and the bindings
    /// under workflow.stage are out of a sandboxed script's reach. The stage's result depends on
    /// a global its key does not see, so with one shared key alice would get bob's value.
    @Test func oneAgentCannotPoisonAnothersCachedStage() throws {
        let box = try CLISandbox()
        let text = """
            local workflow = require "workflow"
            VALUE = tonumber(arg[1])
            print(workflow.stage("train", {1}, function(x) return VALUE end))
            """
        let bobs = try box.write("bob.lua", text), alices = try box.write("alice.lua", text)
        let poison = try box.run(["run", bobs, "--sandbox", "--agent", "bob", "--backend", "simd", "--", "666"])
        #expect(poison.status == 0 && poison.stdout == "666\n", "\(poison.stdout)\(poison.stderr)")
        let cachedForBob = try box.run(["run", bobs, "--sandbox", "--agent", "bob", "--backend", "simd", "--", "1"])
        #expect(
            cachedForBob.stdout.hasPrefix("stage train: from the cache") && cachedForBob.stdout.hasSuffix("\n666\n"),
            "the stage was not cached for bob: \(cachedForBob.stdout)")
        let victim = try box.run(["run", alices, "--sandbox", "--agent", "alice", "--backend", "simd", "--", "42"])
        #expect(victim.status == 0 && victim.stdout == "42\n", "alice got \(victim.stdout)\(victim.stderr)")
        let direct = try box.run(["run", try box.write("direct.lua", "require('gpu').native.stage_store('k', 'train', 666)"), "--sandbox"])
        #expect(direct.status == 1 && direct.firstErrorLine.contains("attempt to index a nil value (field 'native')"), "\(direct.stderr)")
    }

    /// Two agents in one run: a sandboxed script cannot see, cancel or depend on (and so read the
    /// result of) a task the other agent submitted.
    @Test func aSandboxedAgentCannotReachAnotherAgentsTasks() throws {
        let box = try Self.agentsBox()
        let victim = try box.write(
            "victim.lua",
            """
            local gpu = require "gpu"
            local h = gpu.submit(function() return {secret = "alice-private-value-42"} end, {name = "alice-job"})
            print("victim", h:await().secret)
            """)
        let attacker = try box.write(
            "attacker.lua",
            """
            local gpu = require "gpu"
            print("status", pcall(gpu.status, 1))
            print("cancel", pcall(gpu.cancel, 1))
            print("after", pcall(gpu.submit, function(r) return r end, {after = {1}}))
            print("metrics", #gpu.metrics.snapshot().tasks)
            """)
        let out = try box.run([
            "run", victim, attacker, "--agent", "alice", "--agent", "mallory", "--profile", "p.yaml", "--backend", "simd",
        ])
        #expect(out.status == 0, "\(out.stdout)\(out.stderr)")
        #expect(out.stdout.contains("victim\talice-private-value-42"), "\(out.stdout)")
        for verb in ["status", "cancel", "after"] {
            #expect(
                out.stdout.contains("\(verb)\tfalse") && out.stdout.contains("no task #1 was submitted by this script"), "\(out.stdout)")
        }
        #expect(out.stdout.contains("metrics\t0"), "\(out.stdout)")
    }

    /// A sandboxed script is bounded like a module (it is read whole and parsed in one C call).
    @Test func anOversizedSandboxedScriptIsRefused() throws {
        let box = try CLISandbox()
        let script = try box.write("huge.lua", String(repeating: ";", count: 5 << 20) + "\nprint(1)\n")
        let out = try box.run(["run", script, "--sandbox", "--store", "none"])
        #expect(!out.signalled && out.status == 2, "exit \(out.status): \(out.stderr)")
        #expect(out.firstErrorLine.contains("bytes a sandboxed script may have"), "\(out.stderr)")
    }

    /// A pipeline's link is its two ends' only: a third sandboxed agent that opens "alice->bob"
    /// gets a channel of its own, and cannot steal, forge or close alice's items.
    @Test func aSandboxedAgentCannotTapAnotherAgentsPipeline() throws {
        let box = try CLISandbox()
        try box.write(
            "pipe.yaml",
            """
            learning: {history: none}
            store: {path: none}
            sandbox: {enabled: true, wall_s: 3}
            coordination: {pattern: pipeline, stages: [alice, bob], buffer_sizes: [4]}
            """)
        let alice = try box.write(
            "alice.lua", "local s = require('gpu').stage()\nfor i = 1, 3 do s.output:put({secret = 'alice-secret-' .. i}) end\n")
        let bob = try box.write(
            "bob.lua",
            "local s = require('gpu').stage()\nwhile true do local v = s.input:get() if v == nil then break end print('bob got', v.secret) end\n"
        )
        let mallory = try box.write(
            "mallory.lua",
            """
            local gpu = require "gpu"
            local c = gpu.channel("alice->bob")
            print("mallory opened", c.name)
            print("coordinate", pcall(gpu.coordinate, {agents = {"alice", "mallory"}, pattern = gpu.pipeline{stages = {"alice", "mallory"}}}))
            """)
        let out = try box.run([
            "run", mallory, alice, bob, "--agent", "mallory", "--agent", "alice", "--agent", "bob", "--profile", "pipe.yaml",
            "--backend", "simd",
        ])
        #expect(!out.signalled, "\(out.stderr)")
        #expect(out.stdout.contains("mallory opened\tmallory/alice->bob"), "\(out.stdout)")
        #expect(out.stdout.contains("coordinate\tfalse") && out.stdout.contains("set by its profile"), "\(out.stdout)")
        for i in 1...3 { #expect(out.stdout.contains("bob got\talice-secret-\(i)"), "\(out.stdout)\(out.stderr)") }
    }

    /// A sandboxed agent's scheduling feedback does not steer another agent's batch size.
    @Test func aSandboxedAgentCannotSteerAnothersScheduling() throws {
        let box = try Self.agentsBox()
        let mallory = try box.write(
            "mallory.lua",
            """
            local gpu = require "gpu"
            local ds = gpu.data.blobs{samples = 50, features = 4, centers = 2, seed = 1}
            local h = gpu.submit(gpu.inference{model = gpu.nn.mlp{inputs = 4, hidden = {4}, outputs = 2, seed = 1}, data = ds})
            h:await()
            local r
            for i = 1, 20 do r = gpu.optimize_scheduling{{task = h, satisfaction = 0, suggestions = {"batch_size=1", "avoid_backend=simd"}}} end
            print("mallory", r.changes[#r.changes])
            """)
        let alice = try box.write(
            "alice.lua",
            """
            local gpu = require "gpu"
            for i = 1, 5 do gpu.submit(function() end):await() end
            local ds = gpu.data.blobs{samples = 3000, features = 4, centers = 2, seed = 1}
            local r = gpu.submit(gpu.inference{model = gpu.nn.mlp{inputs = 4, hidden = {4}, outputs = 2, seed = 1}, data = ds}):await()
            print("alice", r.batch_size, r.batch_size_source)
            """)
        let out = try box.run(["run", mallory, alice, "--agent", "mallory", "--agent", "alice", "--profile", "p.yaml", "--backend", "simd"])
        #expect(out.status == 0, "\(out.stdout)\(out.stderr)")
        #expect(out.stdout.contains("alice\t64\tdefault"), "\(out.stdout)")
        #expect(out.stdout.contains("are not applied"), "\(out.stdout)")
    }

    /// Two scripts stuck in calls that cannot yield, beside a good one: each gets its own wall
    /// limit of the host thread (none is charged for the time the others held it), every one
    /// ends with its reason, and the good script finishes.
    @Test func scriptsThatCannotYieldDoNotStarveTheRest() throws {
        let box = try CLISandbox()
        try box.write(
            "p.yaml", "learning: {history: none}\nstore: {path: none}\nsandbox: {enabled: true, instructions: 4000000000, wall_s: 2}\n")
        let slow = try box.write(
            "slow.lua", "local s = string.rep('a', 4 << 20)\nstring.gsub('x', 'x', function() while true do local u = s:upper() end end)\n")
        let good = try box.write(
            "good.lua",
            "local gpu = require 'gpu'\nlocal n = 0\nfor i = 1, 20 do n = n + gpu.submit(function() return i end):await() end\nprint('good done', n)\n"
        )
        let out = try box.run([
            "run", slow, slow, good, "--agent", "m1", "--agent", "m2", "--agent", "alice", "--profile", "p.yaml",
            "--backend", "simd",
        ])
        #expect(!out.signalled && out.status == 3, "exit \(out.status): \(out.stderr)")
        #expect(out.stdout.contains("good done\t210"), "\(out.stdout)\(out.stderr)")
        #expect(!out.stderr.contains("the process was ended"), "\(out.stderr)")
    }

    /// A test folder with p.yaml: sandboxed, 20 s of wall time, nothing recorded.
    static func agentsBox() throws -> CLISandbox {
        let box = try CLISandbox()
        try box.write("p.yaml", "learning: {history: none}\nstore: {path: none}\nsandbox: {enabled: true, wall_s: 20}\n")
        return box
    }
}
