import Foundation
import GPUFlowTesting
import Testing

/// The hostile corpus (Tests/hostile/*.lua): each script's first line says the exit code and
/// the reason it must be stopped with; all run under Tests/hostile/sandbox.yaml.
@Suite struct SandboxCorpusTests {
    static var corpus: [String] {
        let dir = TestPaths.repository.appendingPathComponent("Tests/hostile")
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.hasSuffix(".lua") }.sorted()
    }

    @Test(arguments: corpus)
    func hostileScriptIsStoppedWithItsReason(_ name: String) throws {
        let dir = TestPaths.repository.appendingPathComponent("Tests/hostile")
        let text = try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
        let header = text.split(separator: "\n").first.map(String.init) ?? ""
        guard header.hasPrefix("-- expect: ") else { Issue.record("\(name) has no '-- expect: CODE reason' line"); return }
        let expectation = header.dropFirst("-- expect: ".count)
        let code = Int32(expectation.prefix { $0.isNumber }) ?? -1
        let reason = expectation.drop { $0.isNumber }.trimmingCharacters(in: .whitespaces)
        let started = Date()
        let out = try CLIRunner.run(["run", name, "--profile", "sandbox.yaml", "--backend", "simd"], currentDirectory: dir.path)
        #expect(out.status == code, "\(name): exit \(out.status), expected \(code): \(out.stderr)")
        #expect(out.firstErrorLine.contains(reason), "\(name): \(out.firstErrorLine)")
        #expect(Date().timeIntervalSince(started) < 30, "\(name) was stopped promptly")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/gpuflow-sandbox-escaped"))
    }

    @Test func wellBehavedWorkRunsInTheSandbox() throws {
        let dir = TestPaths.repository.appendingPathComponent("Tests/hostile")
        let script = try TestPaths.write("""
        local gpu = require "gpu"
        local ds = gpu.data.blobs{samples = 120, features = 4, centers = 2, seed = 1}
        local r = gpu.submit(gpu.training{model = gpu.nn.mlp{inputs = 4, hidden = {8}, outputs = 2, seed = 1}, data = ds, epochs = 3}):await()
        print(os.time() > 0, os.clock() >= 0, math.floor(r.metrics.accuracy * 0) == 0, load("return 41 + 1")())
        """, name: "fine.lua")
        let out = try CLIRunner.run(["run", script, "--profile", dir.appendingPathComponent("sandbox.yaml").path, "--backend", "simd"])
        #expect(out.status == 0 && out.stdout == "true\ttrue\ttrue\t42\n", "\(out.stdout)\(out.stderr)")
        // --sandbox on the command line turns it on with default limits.
        let flag = try CLIRunner.run(["run", try TestPaths.write("print(io, os.execute)", name: "probe.lua"), "--sandbox", "--store", "none"])
        #expect(flag.stdout == "nil\tnil\n")
    }

    @Test func anAgentsOwnLimitsReplaceTheProfiles() throws {
        let profile = try TestPaths.write("""
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
}
