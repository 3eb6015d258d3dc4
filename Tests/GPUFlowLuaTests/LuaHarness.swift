import Foundation
import GPUFlowCore
import GPUFlowLua
import GPUFlowTesting

/// Collects what scripts print.
final class OutputBuffer: @unchecked Sendable {
    private let lock = NSLock()
    private var text = ""
    func append(_ s: String) {
        lock.lock()
        text += s
        lock.unlock()
    }
    var value: String {
        lock.lock()
        defer { lock.unlock() }
        return text
    }
}

struct LuaRun {
    let results: [JobResult]
    let output: String
    let orchestrator: GPUTaskOrchestrator
    var result: JobResult { results[0] }
    var lines: [String] { output.split(separator: "\n").map(String.init) }
}

/// Runs Lua sources as scripts through the real host, the way `gpuflow run` does.
func runLua(
    _ sources: [String], profile: Profile = .isolated, arguments: [String] = [], seed: UInt64 = 0,
    agents: [String]? = nil
) async throws -> LuaRun {
    let dir = try TestPaths.temporaryDirectory()
    var requests: [ScriptRequest] = []
    for (i, s) in sources.enumerated() {
        let path = dir.appendingPathComponent("script\(i + 1).lua").path
        try s.write(toFile: path, atomically: true, encoding: .utf8)
        requests.append(ScriptRequest(path: path, arguments: arguments, agent: agents?[i]))
    }
    let out = OutputBuffer()
    let orchestrator = GPUTaskOrchestrator(profile: profile)
    let env = RunEnvironment(
        orchestrator: orchestrator, profile: profile, backend: .cpu, backendName: "cpu",
        backendReason: "test", seed: seed, stdlibPath: try StdlibLocator.find(),
        output: { out.append($0) })
    let results = await LuaHost(environment: env).runDetached(requests)
    return LuaRun(results: results, output: out.value, orchestrator: orchestrator)
}

func runLua(_ source: String, profile: Profile = .isolated, arguments: [String] = [], seed: UInt64 = 0) async throws -> LuaRun {
    try await runLua([source], profile: profile, arguments: arguments, seed: seed)
}

extension Profile {
    /// The defaults with the learning history kept in memory, so tests never write to the
    /// user's data directory or see each other's history.
    static var isolated: Profile {
        var p = Profile()
        p.learning.history = "none"
        return p
    }
}
