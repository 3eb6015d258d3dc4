import Foundation
import GPUFlowCore
import GPUFlowStore
import GPUFlowTesting
import GRDB
import Testing

/// Epoch metrics stored as chunks, a learning history stored as shared blocks, a task's end in
/// one transaction: what comes back is every point, in order, and the store stays small.
@Suite struct MetricSeriesAndHistoryTests {
    private func store() throws -> (RunStore, String) {
        let path = try TestPaths.temporaryDirectory().appendingPathComponent("runs.sqlite").path
        return (try RunStore(path: path, busyTimeout: 0.2), path)
    }

    private func manifest() -> Manifest {
        Manifest(
            scripts: [.init(path: "train.lua", agent: nil, text: "print(1)")], profile: "name: default\n", profilePath: nil, seed: 1,
            arguments: [], backend: "cpu", backendReason: "test", device: "host", driver: "none", gpuflowVersion: "0.1.0", build: "debug")
    }

    @Test func seriesChunksComeBackAsEveryPointInStepOrder() throws {
        let (s, path) = try store()
        let id = try s.beginRun(manifest())
        try s.recordSeries(
            id,
            [
                .init(taskID: 1, key: "epoch.loss", steps: [1, 2, 3], values: [0.9, .nan, 0.7]),
                .init(taskID: 2, key: "epoch.loss", steps: [1], values: [0.5]),
            ])
        try s.recordSeries(id, [.init(taskID: 1, key: "epoch.loss", steps: [4, 5], values: [0.6, 0.5])])
        try s.recordMetrics(id, [.init(taskID: 1, key: "metrics.loss", value: 0.5)])
        let all = try s.metrics(id)
        let loss1 = all.filter { $0.taskID == 1 && $0.key == "epoch.loss" }
        #expect(loss1.map(\.step) == [1, 3, 4, 5], "a NaN point is left out, as scalar metrics are")
        #expect(loss1.map(\.value) == [0.9, 0.7, 0.6, 0.5])
        #expect(all.contains(.init(taskID: 1, key: "metrics.loss", value: 0.5)))
        #expect(all.last?.taskID == 2)
        let rows = try DatabaseQueue(path: path).read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM metric_series") }
        #expect(rows == 3, "one row a chunk, not one a point")
    }

    @Test func aDamagedSeriesIsReportedWithTheStore() throws {
        let (s, path) = try store()
        let id = try s.beginRun(manifest())
        try s.recordSeries(id, [.init(taskID: 1, key: "epoch.loss", steps: [1, 2], values: [0.9, 0.8])])
        try DatabaseQueue(path: path).write { db in try db.execute(sql: "UPDATE metric_series SET vals = x'0000'") }
        #expect {
            try s.metrics(id)
        } throws: { e in
            guard case StoreError.corrupt(let p, let detail) = e else { return false }
            return p == path && detail.contains("epoch.loss")
        }
    }

    @Test func aTasksEndIsOneTransactionWithItsModels() throws {
        let (s, _) = try store()
        let id = try s.beginRun(manifest())
        try s.finishTask(
            id, metrics: [.init(taskID: 1, key: "metrics.accuracy", value: 0.9)],
            models: [(name: "task 1 train model", data: Data("weights".utf8))],
            task: .init(
                taskID: 1, name: "train", type: "training", agent: nil, state: "succeeded", backend: "simd",
                submittedAt: nil, startedAt: nil, finishedAt: nil, error: nil))
        #expect(try s.metrics(id) == [.init(taskID: 1, key: "metrics.accuracy", value: 0.9)])
        let art = try s.artifacts(id)
        #expect(art.count == 1 && art.first?.name == "task 1 train model" && art.first?.taskID == 1)
        #expect(try s.artifact(art[0].hash) == Data("weights".utf8))
        #expect(try s.tasks(id).first?.backend == "simd")
    }

    /// Runs that read a growing history share blocks: each stores only a few new small ones,
    /// not a new copy of its whole tail; and each reads back exactly what it read.
    @Test func historyBlocksAreSharedBetweenRunsThatReadOverlappingLines() throws {
        let (s, path) = try store()
        let file = try TestPaths.temporaryDirectory().appendingPathComponent("history.jsonl").path
        try ExecutionHistoryStore(path: file).append(
            (0..<2100).map { i in
                .feedback(
                    FeedbackRecord(kind: "training", backend: "simd", model: "m\(i)", satisfaction: 0.5, suggestions: [], durationRatio: 1))
            })
        let every = ExecutionHistoryStore(path: file).snapshot().lines
        try #require(every.count == 2100)
        let line = { (i: Int) in every[i] }
        let id = try s.beginRun(manifest())
        var recorded: [(Manifest.History, [Data])] = []
        for count in Array(1...200) + [1025, 1030, 2100] {  // 200 runs, each reading one line more
            var snap = ExecutionHistoryStore.Snapshot()
            snap.lines = (0..<count).map(line)
            guard let h = try s.putHistory(snap) else { Issue.record("no history recorded"); return }
            #expect(h.chunks.count <= count / Manifest.History.chunkLines + 11, "\(count) lines in \(h.chunks.count) blocks")
            recorded.append((h, snap.lines))
        }
        for (h, lines) in recorded where [1, 7, 64, 199, 200, 1025, 2100].contains(lines.count) {
            #expect(try s.history(h, run: id).lines == lines)
        }
        // A window that starts inside the file (a history longer than the engine reads).
        var window = ExecutionHistoryStore.Snapshot()
        window.firstIndex = 1000
        window.lines = (1000..<2100).map(line)
        guard let w = try s.putHistory(window) else { Issue.record("no window recorded"); return }
        #expect(try s.history(w, run: id).lines == window.lines)
        let stored =
            try DatabaseQueue(path: path).read { db in
                try Int.fetchOne(
                    db, sql: "SELECT coalesce(sum(bytes), 0) FROM artifacts WHERE kind = 'history' AND hash IN (SELECT hash FROM artifacts)"
                )
            } ?? 0
        let lineBytes = (0..<200).map { line($0).count + 1 }.reduce(0, +)
        // One chunk per run for its partial tail stored 200 copies, 1 to 200 lines: ~100× the lines.
        let longest = (0..<2100).map { line($0).count + 1 }.reduce(0, +)
        #expect(stored < 9 * lineBytes + 3 * longest, "\(stored) bytes stored; 200 lines are \(lineBytes), 2,100 are \(longest)")
    }

    /// A writer killed between its file and its row, or between its row and the rename, leaves
    /// a partial: the next opening removes the first and moves the second into place.
    @Test func partialArtifactsOfAKilledWriterAreRepairedAtOpening() throws {
        let (s, path) = try store()
        let committed = Data("committed bytes".utf8), abandoned = Data("never committed".utf8)
        let dir = (path as NSString).deletingLastPathComponent + "/artifacts/.partial"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let dead: Int32 = 2_147_483_646
        let h1 = ContentHash.of(committed), h2 = ContentHash.of(abandoned)
        try committed.write(to: URL(fileURLWithPath: "\(dir)/\(h1)-\(dead)"))
        try abandoned.write(to: URL(fileURLWithPath: "\(dir)/\(h2)-\(dead)"))
        try DatabaseQueue(path: path).write { db in
            try db.execute(
                sql: "INSERT INTO artifacts (hash, kind, bytes, created_at) VALUES (?, 'model', ?, 0)", arguments: [h1, committed.count])
        }
        let reopened = try RunStore(path: path)
        #expect(try reopened.artifact(h1) == committed, "the committed one is in place")
        #expect(!FileManager.default.fileExists(atPath: reopened.artifactPath(h2)))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty, "no partial is left")
        _ = s
    }

    /// A process killed after committing a checkpoint's removal, before deleting its file, left
    /// the file named by no row (seen once in the suite: `checkpointsAreKeptAsTheProfileSays`).
    /// The removal journal committed with the rows lets the next opening finish it; a hash
    /// stored again meanwhile keeps its file.
    @Test func aRemovalCutShortByAKillIsFinishedAtOpening() throws {
        let (s, path) = try store()
        try s.putCheckpoint(key: "k", data: Data("epoch 1".utf8), keep: 1)
        try s.putCheckpoint(key: "k", data: Data("epoch 2".utf8), keep: 1)
        let old = ContentHash.of(Data("epoch 1".utf8)), kept = ContentHash.of(Data("epoch 2".utf8))
        #expect(!FileManager.default.fileExists(atPath: s.artifactPath(old)), "an uninterrupted removal deletes the file")
        // The state a kill leaves: the rows gone and the journal entry committed, the files still there.
        let orphan = Data("epoch 3".utf8), readded = Data("epoch 4".utf8)
        try s.putCheckpoint(key: "other", data: orphan, keep: 1)
        try s.putCheckpoint(key: "again", data: readded, keep: 1)
        let h3 = ContentHash.of(orphan), h4 = ContentHash.of(readded)
        try DatabaseQueue(path: path).write { db in
            try db.execute(sql: "DELETE FROM checkpoints WHERE hash = ?", arguments: [h3])
            try db.execute(sql: "DELETE FROM artifacts WHERE hash = ?", arguments: [h3])
            try db.execute(sql: "INSERT INTO artifact_removals (hash) VALUES (?), (?)", arguments: [h3, h4])
        }
        #expect(FileManager.default.fileExists(atPath: s.artifactPath(h3)))
        let reopened = try RunStore(path: path)
        #expect(!FileManager.default.fileExists(atPath: reopened.artifactPath(h3)), "the orphan's file is removed at opening")
        #expect(try reopened.artifact(h4) == readded, "a hash with a row keeps its file")
        #expect(
            try reopened.latestCheckpoint(key: "k") == Data("epoch 2".utf8)
                && FileManager.default.fileExists(atPath: reopened.artifactPath(kept)))
        let left = try DatabaseQueue(path: path).read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM artifact_removals") }
        #expect(left == 0, "the journal is empty once the files are gone")
    }
}
