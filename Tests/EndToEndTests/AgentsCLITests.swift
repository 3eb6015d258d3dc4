import Foundation
import GPUFlowTesting
import Testing

/// Several scripts in one process as agents, through the binary, with the examples in
/// examples/agents/.
@Suite struct AgentsCLITests {
    @Test func severalScriptsRunAsAgentsAndTheFirstFailureDecidesTheExitCode() throws {
        let dir = try TestPaths.temporaryDirectory()
        func write(_ name: String, _ text: String) throws -> String {
            let p = dir.appendingPathComponent(name).path
            try text.write(toFile: p, atomically: true, encoding: .utf8)
            return p
        }
        let who =
            "local gpu = require 'gpu'\nlocal h = gpu.submit(function() return 1 end)\nh:await()\nprint(h:status().agent or '-', ...)\n"
        let a = try write("alpha.lua", who), b = try write("beta.lua", who)
        let named = try CLIRunner.run(["run", a, b, "--", "x"])
        #expect(named.status == 0, "\(named.stderr)")
        #expect(Set(named.stdout.split(separator: "\n")) == ["alpha\tx", "beta\tx"], "agents named after the files: \(named.stdout)")
        let given = try CLIRunner.run(["run", a, b, "--agent", "p", "--agent", "q"])
        #expect(Set(given.stdout.split(separator: "\n")) == ["p", "q"])
        let mismatch = try CLIRunner.run(["run", a, b, "--agent", "p"])
        #expect(mismatch.status == 2 && mismatch.firstErrorLine.contains("1 --agent names for 2 scripts"), "\(mismatch.stderr)")
        let bad = try write("bad.lua", "error('stage broke')\n")
        let failed = try CLIRunner.run(["run", a, bad])
        #expect(failed.status == 1 && failed.stderr.contains("stage broke") && failed.stdout.contains("alpha"), "the other agent finished")
    }

    @Test(arguments: ["exclusive", "time_sliced", "space_partitioned", "pipeline", "collaborative"])
    func everyPatternExampleRuns(_ pattern: String) throws {
        let dir = TestPaths.repository.appendingPathComponent("examples/agents")
        let profile = dir.appendingPathComponent("\(pattern).yaml").path
        let scripts = pattern == "pipeline" ? ["load.lua", "train.lua", "judge.lua"] : ["alice.lua", "bob.lua", "carol.lua"]
        let out = try CLIRunner.run(
            ["run"] + scripts.map { dir.appendingPathComponent($0).path } + ["--profile", profile, "--backend", "simd", "--", "--quick"])
        #expect(out.status == 0, "\(pattern): \(out.stderr)")
        #expect(!out.stdout.isEmpty && !out.stderr.contains("warning:"), "\(pattern): \(out.stderr)")
    }
}
