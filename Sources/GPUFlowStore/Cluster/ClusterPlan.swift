import Foundation

/// What `gpuflow submit` decided, kept as plan.json in the run directory so that every stage
/// job, `status` and a resume work from the same facts: the script (with its hash: a job
/// refuses to run a script edited since), how to run it, and the checked stage graph.
public struct ClusterPlan: Codable, Sendable, Equatable {
    public var run: String
    public var script: String
    public var scriptHash: String
    public var arguments: [String]
    public var seed: UInt64
    public var backend: String?
    public var workdir: String
    public var gpuflow: String
    public var graph: StageGraph
    public var submittedAt: Double

    public init(
        run: String, script: String, scriptHash: String, arguments: [String], seed: UInt64, backend: String?, workdir: String,
        gpuflow: String, graph: StageGraph
    ) {
        self.run = run
        self.script = script
        self.scriptHash = scriptHash
        self.arguments = arguments
        self.seed = seed
        self.backend = backend
        self.workdir = workdir
        self.gpuflow = gpuflow
        self.graph = graph
        submittedAt = Date().timeIntervalSince1970
    }

    public func json() throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted]
        return String(decoding: try e.encode(self), as: UTF8.self)
    }
}

extension RunDirectory {
    public func writePlan(_ plan: ClusterPlan) throws { try write(try plan.json(), to: planPath) }

    public func plan() throws -> ClusterPlan {
        guard let d = FileManager.default.contents(atPath: planPath) else {
            throw StoreError.runDirectory(
                path: planPath, detail: "no plan here: is this the run directory of a submitted run, on a filesystem this node shares?")
        }
        do { return try JSONDecoder().decode(ClusterPlan.self, from: d) } catch {
            throw StoreError.runDirectory(path: planPath, detail: "the plan is not readable (\(error))")
        }
    }
}
