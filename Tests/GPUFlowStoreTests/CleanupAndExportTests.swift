import Foundation
import GPUFlowStore
import GPUFlowTesting
import Testing

/// What deleting runs and collecting garbage keep and remove, and how a run is cut into
/// MLflow's log-batch requests, decided without a server.
@Suite struct CleanupAndExportTests {
    private func manifest() -> Manifest {
        Manifest(
            scripts: [.init(path: "train.lua", agent: nil, text: "print(1)")], profile: "name: default\n", profilePath: nil, seed: 1,
            arguments: [], backend: "cpu", backendReason: "test", device: "host", driver: "none", gpuflowVersion: "0.1.0",
            build: "debug")
    }

    private func store() throws -> RunStore {
        try RunStore(path: try TestPaths.temporaryDirectory().appendingPathComponent("runs.sqlite").path)
    }

    private func ended(_ s: RunStore, artifacts: [(String, Data)]) throws -> String {
        let id = try s.beginRun(manifest(), id: RunStore.newRunID() + "-\(UInt32.random(in: 0...UInt32.max))")
        for (name, data) in artifacts {
            try s.linkArtifact(id, name: name, hash: try s.putArtifact(data, kind: "model"), kind: "model")
        }
        try s.finishRun(id, status: "succeeded", exitCode: 0, manifest: manifest())
        return id
    }

    @Test func deletingARunFreesOnlyWhatNoOtherRunUses() throws {
        let s = try store()
        let shared = Data(repeating: 1, count: 1000), own = Data(repeating: 2, count: 3000)
        let a = try ended(s, artifacts: [("shared", shared), ("own", own)])
        let b = try ended(s, artifacts: [("shared", shared)])
        // A cached stage of run a names a dataset by hash inside its JSON result.
        let staged = try s.putArtifact(Data(repeating: 3, count: 500), kind: "dataset")
        try s.putStage(key: "k", name: "prepare", run: a, result: "{\"$dataset\":\"\(staged)\"}")
        let size = try s.runSize(a)
        #expect(size.ownBytes == 3500 && size.bytes == 4500)
        #expect(try s.runSize(b).ownBytes == 0)
        let dry = try s.deleteRuns([a], dryRun: true)
        let stillThere = try s.hasRun(a)
        #expect(dry.bytes == 3500 && dry.artifacts == 2 && stillThere)
        let freed = try s.deleteRuns([a])
        #expect(freed == dry)
        let gone = try !s.hasRun(a), stage = try s.stage("k")
        #expect(gone && stage == nil)
        #expect(try s.artifact(ContentHash.of(shared)) == shared)
        #expect(throws: StoreError.self) { try s.artifact(ContentHash.of(own)) }
        #expect(!FileManager.default.fileExists(atPath: s.artifactPath(staged)))
        // A running run is refused, an unknown one named.
        let running = try s.beginRun(manifest())
        #expect(throws: StoreError.self) { try s.deleteRuns([running]) }
        #expect(throws: StoreError.self) { try s.deleteRuns(["r-none"]) }
    }

    @Test func garbageCollectionRemovesUnnamedArtifactsAndStaleCheckpoints() throws {
        let s = try store()
        _ = try ended(s, artifacts: [("kept", Data(repeating: 4, count: 100))])
        let orphan = try s.putArtifact(Data(repeating: 5, count: 700), kind: "model")  // named by nothing
        try s.putCheckpoint(key: "task-a", data: Data(repeating: 6, count: 900), keep: 2)
        // Fresh checkpoints stay under the default age; at age 0 they go.
        var freed = try s.collectGarbage(checkpointAge: 14 * 86400)
        #expect(freed.artifacts == 1 && freed.bytes == 700 && freed.checkpoints == 0)
        #expect(!FileManager.default.fileExists(atPath: s.artifactPath(orphan)))
        #expect(try s.latestCheckpoint(key: "task-a") != nil)
        let dry = try s.collectGarbage(checkpointAge: 0, dryRun: true)
        let kept = try s.latestCheckpoint(key: "task-a")
        #expect(dry.checkpoints == 1 && dry.bytes == 900 && kept != nil)
        freed = try s.collectGarbage(checkpointAge: 0)
        let dropped = try s.latestCheckpoint(key: "task-a")
        #expect(freed.checkpoints == 1 && freed.bytes == 900 && dropped == nil)
        #expect(try s.collectGarbage(checkpointAge: 0).bytes == 0)
    }

    @Test func hashTokensFindEveryStoredHashInJSON() {
        let h = String(repeating: "0123456789abcdef", count: 4)
        #expect(RunStore.hashTokens("{\"$model\":\"\(h)\",\"x\":\"\(h)0\"}") == [h])
        #expect(RunStore.hashTokens(String(h.prefix(63))).isEmpty)
    }

    @Test func logBatchRequestsStayWithinMLflowsLimits() {
        var p = MLflowPayload(runName: "r", experiment: "e", startTime: 0, endTime: 1, status: "FINISHED")
        p.params = (0..<250).map { .init(key: "p\($0)", value: "v") }
        p.tags = (0..<130).map { .init(key: "t\($0)", value: "v") }
        p.metrics = (0..<2500).map { .init(key: "m", value: Double($0), timestamp: 0, step: $0) }
        let batches = p.batches
        for b in batches {
            #expect(b.params.count <= 100 && b.tags.count <= 100 && b.metrics.count <= 1000)
            #expect(b.params.count + b.tags.count + b.metrics.count <= 1000)
        }
        #expect(batches.flatMap(\.params) == p.params && batches.flatMap(\.tags) == p.tags && batches.flatMap(\.metrics) == p.metrics)
        #expect(MLflowPayload.key("a:b é=") == "a:b __")
        #expect(MLflowPayload.status(of: "exited") == "FAILED" && MLflowPayload.status(of: "running") == nil)
    }
}
