import Foundation
import GPUFlowStore
import GPUFlowTesting
import GRDB
import Testing

@Suite struct RunStoreTests {
    private func manifest(seed: UInt64 = 7) -> Manifest {
        Manifest(
            scripts: [.init(path: "train.lua", agent: nil, text: "print(1)")], profile: "name: default\n", profilePath: nil, seed: seed,
            arguments: ["--epochs", "3"], backend: "cpu", backendReason: "test", device: "host", driver: "none",
            gpuflowVersion: "0.1.0", build: "debug")
    }

    private func store() throws -> RunStore {
        try RunStore(path: try TestPaths.temporaryDirectory().appendingPathComponent("runs.sqlite").path, busyTimeout: 0.2)
    }

    /// A replay judges what a run computed, not what the clock said: the declared duration's
    /// ratio and verdict are timings (a replay of train_infer_optimize was "different" by them).
    @Test func measuredValuesAreNotJudgedByAReplay() {
        for key in ["declared.duration.ratio", "declared.duration.within_estimate", "latency_ms.p99", "seconds", "throughput_per_sec"] {
            #expect(RunComparison.isTiming(key), "\(key)")
        }
        for key in ["loss", "accuracy", "declared.compute_intensity.measured", "model", "history.3.loss"] {
            #expect(!RunComparison.isTiming(key), "\(key)")
        }
    }

    @Test func recordsARunAndReadsItBack() throws {
        let s = try store()
        let id = try s.beginRun(manifest())
        try s.recordTasks(
            id,
            [
                .init(
                    taskID: 1, name: "train", type: "training", agent: "alice", state: "succeeded", backend: "cpu",
                    submittedAt: 0, startedAt: 1, finishedAt: 2, error: nil)
            ])
        try s.recordMetrics(
            id, [.init(taskID: 1, key: "epoch.loss", step: 1, value: 0.5), .init(taskID: 1, key: "metrics.accuracy", value: 0.9)])
        let hash = try s.putArtifact(Data("model bytes".utf8), kind: "model")
        try s.linkArtifact(id, name: "task 1 model", hash: hash, kind: "model", taskID: 1)
        var m = manifest()
        m.exitStatus = 0
        try s.finishRun(id, status: "succeeded", exitCode: 0, manifest: m)
        #expect(try s.summary(id).status == "succeeded")
        #expect(try s.tasks(id).first?.agent == "alice")
        #expect(try s.metrics(id).count == 2)
        #expect(try s.artifact(hash) == Data("model bytes".utf8))
        #expect(hash == ContentHash.of("model bytes"))
        #expect(try s.manifest(id).arguments == ["--epochs", "3"])
        #expect(try s.resolve(String(id.prefix(12))) == id || (try? s.resolve(String(id.prefix(12)))) == nil)
        #expect(try s.resolve("last") == id)
        #expect(throws: StoreError.self) { try s.resolve("nope") }
    }

    @Test func aRunWhoseProcessDiedIsInterruptedNeverRunningForever() throws {
        let s = try store()
        var m = manifest()
        m.pid = 999_999  // no such process
        let id = try s.beginRun(m)
        #expect(try s.runs().first { $0.id == id }?.status == "interrupted")
        let alive = try s.beginRun(manifest())  // this process: still running
        #expect(try s.runs().first { $0.id == alive }?.status == "running")
    }

    /// Four processes starting on a new machine open one new store at once: each must find the
    /// schema made exactly once (without the lock, one in a few failed with "table runs already
    /// exists"). Separate connections in one process race the same way.
    @Test func manyOpenersOfANewStoreAllSucceed() throws {
        for _ in 0..<5 {
            let path = try TestPaths.temporaryDirectory().appendingPathComponent("runs.sqlite").path
            let failures = LockedErrors()
            DispatchQueue.concurrentPerform(iterations: 8) { _ in
                do { _ = try RunStore(path: path) } catch { failures.add("\(error)") }
            }
            #expect(failures.all.isEmpty, "\(failures.all)")
        }
    }

    @Test func aCorruptDatabaseIsRefusedByName() throws {
        let path = try TestPaths.temporaryDirectory().appendingPathComponent("runs.sqlite").path
        try Data(repeating: 0x42, count: 8192).write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try RunStore(path: path)
        } throws: { e in
            "\(e)".contains(path) && "\(e)".contains("not a usable SQLite database")
        }
    }

    @Test func aLockedDatabaseIsReportedAndNothingIsLost() throws {
        let s = try store()
        let id = try s.beginRun(manifest())
        var config = Configuration()
        config.allowsUnsafeTransactions = true  // hold the lock across accesses, as another process would
        let other = try DatabaseQueue(path: s.path, configuration: config)
        try other.inDatabase { db in try db.execute(sql: "BEGIN EXCLUSIVE") }
        #expect { try s.recordEvent(id, kind: "x", body: "{}") } throws: { e in "\(e)".contains("is locked by another process") }
        try other.inDatabase { db in try db.execute(sql: "COMMIT") }
        try s.recordEvent(id, kind: "x", body: "{}")
        #expect(try s.events(id).count == 1)
    }

    @Test func aFullDiskStopsWritesButKeepsWhatWasRecorded() throws {
        let s = try store()
        let id = try s.beginRun(manifest())
        try s.recordMetrics(id, [.init(taskID: 1, key: "kept", value: 1)])
        // Cap the database at its current size: the next pages cannot be allocated (SQLITE_FULL).
        let q = try DatabaseQueue(path: s.path)
        let pages = try q.read { db in try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 1 }
        #expect {
            try q.write { db in
                try db.execute(sql: "PRAGMA max_page_count = \(pages)")
                for i in 0..<2000 {
                    try db.execute(
                        sql: "INSERT INTO events (run_id, at, kind, body) VALUES (?, 0, 'filler', ?)",
                        arguments: [id, String(repeating: "x", count: 500) + "\(i)"])
                }
            }
        } throws: { e in (e as? DatabaseError)?.resultCode == .SQLITE_FULL }
        let reopened = try RunStore(path: s.path)
        #expect(try reopened.metrics(id).map(\.key) == ["kept"])
    }

    @Test func aManifestFromANewerGpuflowIsRefusedWithItsVersion() throws {
        var json = try manifest().json()
        json = json.replacingOccurrences(of: "\"format\" : 1", with: "\"format\" : 9")
        #expect {
            _ = try Manifest.decode(json, run: "r1")
        } throws: { e in "\(e)".contains("gpuflow 0.1.0 (manifest format 9)") && "\(e)".contains("upgrade") }
    }

    @Test func aTamperedArtifactIsDetected() throws {
        let s = try store()
        let hash = try s.putArtifact(Data("weights".utf8), kind: "model")
        try Data("tampered".utf8).write(to: URL(fileURLWithPath: s.artifactPath(hash)))
        #expect(throws: StoreError.self) { try s.artifact(hash) }
    }
}

private final class LockedErrors: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [String] = []
    func add(_ s: String) { lock.lock(); list.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return list }
}
