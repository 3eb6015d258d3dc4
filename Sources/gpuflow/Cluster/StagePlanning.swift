import Foundation
import GPUFlowCore
import GPUFlowLua
import GPUFlowStore

/// Runs a script in plan mode: every workflow.stage and workflow.sweep is recorded (name,
/// line, inputs from other stages, resources) and returns a placeholder; nothing is computed,
/// recorded or opened on a device. Errors exit like `gpuflow run` (1 for the script's, 2 for
/// a bad stage graph such as a cycle).
enum StagePlanning {
    static func graph(script: String, arguments: [String], profile: Profile, seed: UInt64) -> StageGraph {
        let stdlib: String
        do { stdlib = try StdlibLocator.find() } catch { fail("\(error)", code: ExitStatus.badInput) }
        guard FileManager.default.fileExists(atPath: script) else { fail("\(script): no such script", code: ExitStatus.badInput) }
        let recorder = StagePlanRecorder()
        var env = RunEnvironment(
            orchestrator: GPUTaskOrchestrator(profile: profile), profile: profile, backend: .cpu, backendName: "cpu",
            backendReason: "plan mode computes nothing", seed: seed, stdlibPath: stdlib, output: { _ in })
        env.stageMode = .plan(recorder)
        let result = LuaHost(environment: env).run([ScriptRequest(path: script, arguments: arguments)])
        env.monitor.stop()
        if let failed = result.first(where: { $0.exitCode != 0 }) {
            fail(
                "plan mode: \(failed.message ?? "the script failed") (in plan mode stages do not run and their results are placeholders: "
                    + "code outside stages should only pass them to other stages)", code: failed.exitCode)
        }
        do {
            let g = try StageGraph(stages: recorder.stages)
            guard !g.stages.isEmpty else {
                fail("\(script) declares no workflow.stage or workflow.sweep: there is nothing to submit", code: ExitStatus.badInput)
            }
            return g
        } catch {
            fail("\(error)", code: ExitStatus.badInput)
        }
    }

    /// The graph as `gpuflow run --plan` prints it.
    static func describe(_ g: StageGraph) -> String {
        var lines = ["STAGE\tWAITS FOR\tGPUS\tMEMORY\tTIME\tELEMENTS\tAT"]
        for s in g.topologicalOrder {
            lines.append(
                [
                    s.name, s.prerequisites.isEmpty ? "-" : s.prerequisites.joined(separator: ","), s.gpus.map(String.init) ?? "default",
                    s.memoryMB.map { "\($0)M" } ?? "-", s.time ?? "default", s.count.map(String.init) ?? "1", s.location,
                ].joined(separator: "\t"))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
