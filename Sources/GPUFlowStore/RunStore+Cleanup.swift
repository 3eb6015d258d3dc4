import Foundation
import GRDB

/// Deleting runs and collecting garbage: what a run owns (its rows, its cached stages, the
/// artifacts nothing else names) goes, and the bytes that frees are counted from the files.
///
/// An artifact is in use while any run's artifact list, checkpoint, cached stage result or
/// manifest (a learning history's chunks) names its hash. Stage results and manifests are
/// JSON that name hashes inside them, so they are scanned for every SHA-256-shaped token:
/// a text that merely looks like a hash keeps a file, never the other way round.
extension RunStore {
    /// What a deletion or collection removed (or, for a dry run, would remove).
    public struct Freed: Sendable, Equatable {
        public var runs: [String] = []
        public var artifacts = 0
        public var checkpoints = 0
        /// Files under artifacts/ that no row named (left by a crash or a copy).
        public var strayFiles = 0
        public var bytes = 0
        /// The database file's shrink after VACUUM (0 when not compacted).
        public var databaseBytes = 0
        /// Artifacts no record names yet but stored since the oldest running run began: that
        /// run may be about to name them, so they stay.
        public var spared = 0
        /// Why the database was not compacted (another process held it), if it was not.
        public var compaction: String?
    }

    /// Artifacts stored (or stored again) at or after this time are spared: the start of the
    /// oldest run still running, on any host. Every write of an artifact is a running run's.
    private static func sparedSince(_ db: Database) throws -> Double {
        try Double.fetchOne(db, sql: "SELECT MIN(started_at) FROM runs WHERE status IN ('running', 'submitted')") ?? .infinity
    }

    private static func spare(_ rows: [(hash: String, bytes: Int)], in db: Database) throws -> (
        drop: [(hash: String, bytes: Int)], spared: Int
    ) {
        let since = try sparedSince(db)
        var drop: [(hash: String, bytes: Int)] = [], spared = 0
        for r in rows {
            let at = try Double.fetchOne(db, sql: "SELECT created_at FROM artifacts WHERE hash = ?", arguments: [r.hash]) ?? 0
            if at >= since { spared += 1 } else { drop.append(r) }
        }
        return (drop, spared)
    }

    /// The bytes a run takes: every artifact it names, and those only it names (what deleting
    /// it frees).
    public struct RunSize: Sendable, Equatable {
        public var artifacts = 0
        public var bytes = 0
        public var ownBytes = 0
        public var metricPoints = 0
        public var tasks = 0
    }

    /// The tables whose rows belong to one run (`run_id`), besides `runs` itself.
    static let runTables = [
        "tasks", "metrics", "metric_series", "params", "events", "samples", "run_artifacts", "stages", "tags", "logged_params",
        "logged_metrics", "cluster_jobs",
    ]

    /// Deletes runs (exact ids) and the artifacts only they used. A running run is refused.
    public func deleteRuns(_ ids: [String], dryRun: Bool = false) throws -> Freed {
        try markInterrupted()
        let unique = Array(NSOrderedSet(array: ids)) as? [String] ?? ids
        var freed = Freed()
        let gone: [String] = try write { db in
            for id in unique {
                guard let status = try String.fetchOne(db, sql: "SELECT status FROM runs WHERE id = ?", arguments: [id]) else {
                    throw StoreError.unknownRun(id)
                }
                // A cluster run's Slurm jobs may still be queued: its records are how they are found.
                if status == "running" || status == "submitted" { throw StoreError.stillRunning(id) }
            }
            var candidates = Set<String>()
            for id in unique { candidates.formUnion(try Self.hashesNamed(by: id, in: db)) }
            let keep = try Self.referencedHashes(in: db, excluding: Set(unique))
            let drop = candidates.subtracting(keep)
            freed.runs = unique
            let (rows, spared) = try Self.spare(try Self.artifactRows(drop, in: db), in: db)
            freed.spared = spared
            freed.artifacts = rows.count
            freed.bytes = rows.reduce(0) { $0 + $1.bytes }
            if dryRun { return [] }
            for id in unique {
                for t in Self.runTables { try db.execute(sql: "DELETE FROM \(t) WHERE run_id = ?", arguments: [id]) }
                try db.execute(sql: "DELETE FROM runs WHERE id = ?", arguments: [id])
            }
            return try Self.forget(rows.map(\.hash), in: db)
        }
        removeArtifactFiles(gone)
        return freed
    }

    /// Removes artifacts nothing names, checkpoints older than `checkpointAge` seconds (by
    /// their newest: a task's resume point goes only when it has not been touched for that
    /// long), stray files, and then compacts the database.
    public func collectGarbage(checkpointAge: Double, dryRun: Bool = false) throws -> Freed {
        try markInterrupted()
        var freed = Freed()
        let cutoff = Date().timeIntervalSince1970 - checkpointAge
        let gone: [String] = try write { db in
            let stale = try Row.fetchAll(
                db, sql: "SELECT key FROM checkpoints GROUP BY key HAVING MAX(created_at) < ?", arguments: [cutoff]
            ).map { $0["key"] as String }
            freed.checkpoints = try stale.reduce(0) { n, key in
                n + (try Int.fetchOne(db, sql: "SELECT count(*) FROM checkpoints WHERE key = ?", arguments: [key]) ?? 0)
            }
            // What stays named: every run's references and the checkpoints that are not stale
            // (the same in a dry run, which deletes nothing).
            let keep = try Self.referencedHashes(in: db, excluding: [], staleCheckpoints: Set(stale))
            if !dryRun {
                for key in stale { try db.execute(sql: "DELETE FROM checkpoints WHERE key = ?", arguments: [key]) }
            }
            let all = Set(try String.fetchAll(db, sql: "SELECT hash FROM artifacts"))
            let (rows, spared) = try Self.spare(try Self.artifactRows(all.subtracting(keep), in: db), in: db)
            freed.spared = spared
            freed.artifacts = rows.count
            freed.bytes = rows.reduce(0) { $0 + $1.bytes }
            return dryRun ? [] : try Self.forget(rows.map(\.hash), in: db)
        }
        removeArtifactFiles(gone)
        let stray = try strayArtifactFiles()
        freed.strayFiles = stray.count
        freed.bytes += stray.reduce(0) { $0 + $1.bytes }
        if !dryRun {
            for f in stray { try? FileManager.default.removeItem(atPath: f.path) }
            // Best effort: another process holding the database (a run writing) makes VACUUM
            // wait and fail; what was removed stays removed and is reported.
            let before = Self.fileBytes(path) + Self.fileBytes(path + "-wal")
            do {
                try vacuum()
                freed.databaseBytes = max(0, before - Self.fileBytes(path) - Self.fileBytes(path + "-wal"))
            } catch {
                freed.compaction = "\(error)"
            }
        }
        return freed
    }

    public func runSize(_ id: String) throws -> RunSize {
        try read { db in
            let mine = try Self.hashesNamed(by: id, in: db)
            let others = try Self.referencedHashes(in: db, excluding: [id])
            let rows = try Self.artifactRows(mine, in: db)
            var size = RunSize()
            size.artifacts = rows.count
            size.bytes = rows.reduce(0) { $0 + $1.bytes }
            size.ownBytes = rows.filter { !others.contains($0.hash) }.reduce(0) { $0 + $1.bytes }
            size.tasks = try Int.fetchOne(db, sql: "SELECT count(*) FROM tasks WHERE run_id = ?", arguments: [id]) ?? 0
            let scalars = try Int.fetchOne(db, sql: "SELECT count(*) FROM metrics WHERE run_id = ?", arguments: [id]) ?? 0
            let series =
                try Int.fetchOne(db, sql: "SELECT coalesce(sum(length(steps)), 0) / 4 FROM metric_series WHERE run_id = ?", arguments: [id])
                ?? 0
            let logged = try Int.fetchOne(db, sql: "SELECT count(*) FROM logged_metrics WHERE run_id = ?", arguments: [id]) ?? 0
            size.metricPoints = scalars + series + logged
            return size
        }
    }

    /// Every hash run `id` names: its artifact list, its stages' results, its manifest.
    private static func hashesNamed(by id: String, in db: Database) throws -> Set<String> {
        var out = Set(try String.fetchAll(db, sql: "SELECT hash FROM run_artifacts WHERE run_id = ?", arguments: [id]))
        for text in try String.fetchAll(db, sql: "SELECT result FROM stages WHERE run_id = ?", arguments: [id]) {
            out.formUnion(hashTokens(text))
        }
        for text in try String.fetchAll(db, sql: "SELECT manifest FROM runs WHERE id = ?", arguments: [id]) {
            out.formUnion(hashTokens(text))
        }
        return out
    }

    /// Every hash in use by a run not in `excluded`, or by a checkpoint whose key is not in
    /// `staleCheckpoints`.
    private static func referencedHashes(
        in db: Database, excluding excluded: Set<String>, staleCheckpoints: Set<String> = []
    ) throws -> Set<String> {
        var out = Set<String>()
        for r in try Row.fetchAll(db, sql: "SELECT key, hash FROM checkpoints") where !staleCheckpoints.contains(r["key"] as String) {
            out.insert(r["hash"])
        }
        for r in try Row.fetchAll(db, sql: "SELECT run_id, hash FROM run_artifacts") where !excluded.contains(r["run_id"] as String) {
            out.insert(r["hash"])
        }
        for r in try Row.fetchAll(db, sql: "SELECT run_id, result FROM stages") where !excluded.contains(r["run_id"] as String) {
            out.formUnion(hashTokens(r["result"]))
        }
        for r in try Row.fetchAll(db, sql: "SELECT id, manifest FROM runs") where !excluded.contains(r["id"] as String) {
            out.formUnion(hashTokens(r["manifest"]))
        }
        return out
    }

    /// Runs of exactly 64 lowercase hex digits (a SHA-256 as the store writes it).
    public static func hashTokens(_ text: String) -> Set<String> {
        var out = Set<String>()
        let bytes = Array(text.utf8)
        var start = 0
        func isHex(_ b: UInt8) -> Bool { (b >= 48 && b <= 57) || (b >= 97 && b <= 102) }
        while start < bytes.count {
            guard isHex(bytes[start]) else {
                start += 1
                continue
            }
            var end = start
            while end < bytes.count && isHex(bytes[end]) { end += 1 }
            if end - start == 64 { out.insert(String(decoding: bytes[start..<end], as: UTF8.self)) }
            start = end
        }
        return out
    }

    private static func artifactRows(_ hashes: Set<String>, in db: Database) throws -> [(hash: String, bytes: Int)] {
        try hashes.sorted().compactMap { h in
            try Int.fetchOne(db, sql: "SELECT bytes FROM artifacts WHERE hash = ?", arguments: [h]).map { (h, $0) }
        }
    }

    /// Deletes the artifact rows and journals their files' removal (done after the commit).
    private static func forget(_ hashes: [String], in db: Database) throws -> [String] {
        for h in hashes {
            try db.execute(sql: "DELETE FROM artifacts WHERE hash = ?", arguments: [h])
            try db.execute(sql: "INSERT OR IGNORE INTO artifact_removals (hash) VALUES (?)", arguments: [h])
        }
        return hashes
    }

    /// Files under artifacts/XX/ that no artifact row names.
    private func strayArtifactFiles() throws -> [(path: String, bytes: Int)] {
        let fm = FileManager.default
        guard let dirs = try? fm.contentsOfDirectory(atPath: artifactDirectory) else { return [] }
        var files: [(name: String, path: String)] = []
        for d in dirs where d.count == 2 {
            let dir = artifactDirectory + "/" + d
            for f in (try? fm.contentsOfDirectory(atPath: dir)) ?? [] { files.append((f, dir + "/" + f)) }
        }
        // Read after listing: a file put in place meanwhile had its row committed first.
        let known = Set(try read { db in try String.fetchAll(db, sql: "SELECT hash FROM artifacts") })
        return files.filter { !known.contains($0.name) }.map { ($0.path, Self.fileBytes($0.path)) }
    }

    static func fileBytes(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
    }

    /// Gives the space of deleted rows back to the file system.
    private func vacuum() throws {
        do {
            try db.writeWithoutTransaction { db in
                try db.execute(sql: "VACUUM")
                try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
            }
        } catch {
            throw Self.map(error, path: path)
        }
    }
}
