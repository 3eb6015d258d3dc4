import Foundation
import GPUFlowTesting
import Testing

/// The documented exit codes and the one clear stderr line, through the real binary.
@Suite struct CLITests {
    private func script(_ source: String) throws -> String { try TestPaths.write(source, name: "job.lua") }

    /// Runs a script by its short name from its own folder, as a user would (Lua shortens long
    /// chunk names in messages, so tests compare against the name the user typed).
    private func runInPlace(_ source: String, _ extra: [String] = []) throws -> CLIRunner.Output {
        let path = try script(source)
        return try CLIRunner.run(["run", "job.lua"] + extra, currentDirectory: URL(fileURLWithPath: path).deletingLastPathComponent().path)
    }

    @Test func successPrintsAndExitsZero() throws {
        let out = try CLIRunner.run(["run", try script("print('hi', ...)"), "--", "a"])
        // stderr holds only the run's id line, printed when stderr is not a terminal too (a CI
        // log needs the id as much as a person does).
        #expect(out.status == 0 && out.stdout == "hi\ta\n", "\(out.stderr)")
        let lines = out.stderr.split(separator: "\n")
        #expect(
            lines.count == 1 && lines[0].hasPrefix("gpuflow: run r") && lines[0].contains("recorded (gpuflow runs show r"), "\(out.stderr)")
    }

    @Test func syntaxErrorExitsOne() throws {
        let out = try runInPlace("local = 1\n")
        #expect(out.status == 1)
        #expect(out.firstErrorLine == "error: job.lua:1: <name> expected near '='", "\(out.stderr)")
    }

    @Test func runtimeErrorExitsOneWithTraceback() throws {
        let out = try runInPlace("local gpu = require 'gpu'\nlocal function f() error('bad thing') end\nf()\n")
        #expect(out.status == 1)
        #expect(out.firstErrorLine == "error: job.lua:2: bad thing")
        #expect(out.stderr.contains("stack traceback:"))
    }

    @Test func constructorErrorExitsOne() throws {
        let out = try runInPlace(
            """
            local gpu = require 'gpu'
            local m = gpu.nn.mlp{inputs = 2, outputs = 2}
            gpu.training{model = m, data = gpu.data.blobs{features = 2}, epochs = -3}
            """)
        #expect(out.status == 1)
        #expect(out.firstErrorLine == "error: job.lua:3: gpu.training: epochs must be a positive integer, got -3")
    }

    @Test func missingScriptExitsTwo() throws {
        let out = try CLIRunner.run(["run", "/no/such.lua"])
        #expect(out.status == 2)
        #expect(out.firstErrorLine == "error: cannot open script /no/such.lua: no such file")
    }

    @Test func badUsageExitsTwo() throws {
        #expect(try CLIRunner.run(["run"]).status == 2)
        #expect(try CLIRunner.run(["run", "x.lua", "--seed", "minus-one"]).status == 2)
        #expect(try CLIRunner.run(["launch"]).status == 2)
    }

    @Test func badProfileExitsTwoWithPosition() throws {
        let profile = try TestPaths.write("resources:\n  memory_pool_mb: lots\n", name: "p.yaml")
        let out = try CLIRunner.run(["run", try script("print(1)"), "--profile", profile])
        #expect(out.status == 2)
        #expect(out.firstErrorLine == "error: \(profile):2:19: 'memory_pool_mb' must be an integer, got 'lots'")
        let check = try CLIRunner.run(["profile", "check", profile])
        #expect(check.status == 2 && check.firstErrorLine.hasPrefix("error: \(profile):2:19:"))
    }

    @Test func badCSVExitsTwo() throws {
        let csv = try TestPaths.write("a,label\n1,0\n2\n", name: "d.csv")
        let out = try CLIRunner.run(["run", try script("require('gpu.data').csv(...)"), "--", csv])
        #expect(out.status == 2)
        #expect(out.firstErrorLine.hasSuffix("\(csv):3: ragged row: 1 fields, the header has 2"), "\(out.stderr)")
    }

    @Test func sandboxLimitExitsThree() throws {
        let profile = try TestPaths.write("sandbox: {instructions: 1000000}\n", name: "s.yaml")
        let out = try CLIRunner.run(["run", try script("while true do end"), "--profile", profile])
        #expect(out.status == 3)
        #expect(out.firstErrorLine.contains("sandbox: instruction limit exceeded"))
    }

    @Test func unavailableDeviceExitsFour() throws {
        let profile = try TestPaths.write("device: {backend: vulkan, index: 99}\n", name: "p.yaml")
        let out = try CLIRunner.run(["run", try script("print(1)"), "--profile", profile])
        #expect(out.status == 4)
        #expect(out.firstErrorLine == "error: no usable device: no Vulkan device with index 99 (there are 1)", "\(out.stderr)")
    }

    /// No Vulkan driver at all: asking for vulkan exits 4, auto falls back to the CPU and says why.
    @Test func noVulkanDriverFallsBackUnderAuto() throws {
        let noICD = ["VK_ICD_FILENAMES": "/nonexistent/icd.json", "VK_DRIVER_FILES": "/nonexistent/icd.json"]
        let source = try script("local b = require('gpu').backend(); print(b.name, b.reason)")
        let strict = try CLIRunner.run(["run", source, "--backend", "vulkan"], environment: noICD)
        #expect(strict.status == 4)
        #expect(strict.firstErrorLine.hasPrefix("error: no usable device:"), "\(strict.stderr)")
        let auto = try CLIRunner.run(["run", source], environment: noICD)
        #expect(auto.status == 0)
        #expect(auto.stdout.hasPrefix("simd\tauto: no usable Vulkan device"), "\(auto.stdout)")
        let devices = try CLIRunner.run(["devices"], environment: noICD)
        #expect(devices.status == 0 && devices.stdout.hasPrefix("no Vulkan device"))
    }

    @Test func vulkanBackendTrainsToTheCPUsAccuracy() throws {
        let iris = TestPaths.sharedData("iris.csv")
        let onCPU = try CLIRunner.run([
            "run", "examples/train_infer_optimize.lua", "--backend", "cpu", "--", "--data", iris, "--epochs", "30",
        ])
        let onGPU = try CLIRunner.run([
            "run", "examples/train_infer_optimize.lua", "--backend", "vulkan", "--", "--data", iris, "--epochs", "30",
        ])
        #expect(onCPU.status == 0 && onGPU.status == 0, "\(onGPU.stderr)")
        func line(_ s: String, _ prefix: String) -> String? { s.split(separator: "\n").first { $0.hasPrefix(prefix) }.map(String.init) }
        let cpuAccuracy = line(onCPU.stdout, "inference:")?.split(separator: ",").first
        let gpuAccuracy = line(onGPU.stdout, "inference:")?.split(separator: ",").first
        #expect(cpuAccuracy != nil && cpuAccuracy == gpuAccuracy, "cpu: \(cpuAccuracy ?? "-") vulkan: \(gpuAccuracy ?? "-")")
    }

    @Test func profileCheckPrintsTheResolvedProfile() throws {
        let out = try CLIRunner.run(["profile", "check", "examples/profiles/small.yaml"])
        #expect(out.status == 0)
        #expect(out.stdout.contains("max_concurrent_tasks: 2"))
        #expect(out.stdout.contains("monitoring_interval_ms: 250"))
        #expect(out.stdout.contains("cross_agent: true"), "defaults are filled in")
    }

    @Test func devicesListsLavapipeOrSaysThereIsNone() throws {
        let out = try CLIRunner.run(["devices"])
        #expect(out.status == 0)
        #expect(out.stdout.contains("max storage buffer range") || out.stdout.hasPrefix("no Vulkan device"))
        let json = try CLIRunner.run(["devices", "--json"])
        #expect((try? JSONSerialization.jsonObject(with: Data(json.stdout.utf8))) != nil)
    }

    @Test func versionAndSeedReachTheScript() throws {
        #expect(try CLIRunner.run(["--version"]).stdout == "0.1.0\n")
        let out = try CLIRunner.run(["run", try script("print(require('gpu').seed(), require('gpu').backend().name)"), "--seed", "77"])
        #expect(out.stdout == "77\tsimd\n", "auto picks simd where the only Vulkan device is lavapipe")
    }
}
