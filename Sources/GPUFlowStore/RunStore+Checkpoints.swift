import Foundation
import GRDB

/// Training checkpoints for `gpuflow run --resume`, by task key (a hash of the task, its
/// model, data and seed). Only the newest few of a key are kept and a finished task's are
/// dropped, so the store grows with the size of a model, not with epochs × history.
extension RunStore {
    /// Stores a checkpoint as the newest of `key` and removes all but the newest `keep`.
    public func putCheckpoint(key: String, data: Data, keep: Int) throws {
        let staged = try stageArtifact(data)
        let hash = staged.hash
        let dropped: [String] = try write { db in
            try Self.insertArtifact(db, hash: hash, kind: "checkpoint", bytes: data.count)
            try db.execute(
                sql: "INSERT INTO checkpoints (key, hash, created_at) VALUES (?, ?, ?)",
                arguments: [key, hash, Date().timeIntervalSince1970])
            let old = try Row.fetchAll(
                db, sql: "SELECT rowid, hash FROM checkpoints WHERE key = ? ORDER BY created_at DESC, rowid DESC LIMIT -1 OFFSET ?",
                arguments: [key, max(keep, 1)])
            for r in old { try db.execute(sql: "DELETE FROM checkpoints WHERE rowid = ?", arguments: [r["rowid"] as Int64]) }
            return try Self.unreferenced(old.map { $0["hash"] }, in: db)
        }
        publish([staged])
        removeArtifactFiles(dropped)
    }

    /// The newest checkpoint of `key`, or nil (none, or its file is gone or damaged).
    public func latestCheckpoint(key: String) throws -> Data? {
        let hash: String? = try read { db in
            try String.fetchOne(
                db, sql: "SELECT hash FROM checkpoints WHERE key = ? ORDER BY created_at DESC, rowid DESC LIMIT 1", arguments: [key])
        }
        return try hash.map { try artifact($0) }
    }

    /// Removes every checkpoint of `key` (its task succeeded).
    public func dropCheckpoints(key: String) throws {
        let dropped: [String] = try write { db in
            let hashes = try String.fetchAll(db, sql: "SELECT hash FROM checkpoints WHERE key = ?", arguments: [key])
            try db.execute(sql: "DELETE FROM checkpoints WHERE key = ?", arguments: [key])
            return try Self.unreferenced(hashes, in: db)
        }
        removeArtifactFiles(dropped)
    }

    /// Checkpoints kept, and their bytes on disk.
    public func checkpointUsage() throws -> (count: Int, bytes: Int) {
        try read { db in
            let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT count(*) AS n, coalesce(sum(a.bytes), 0) AS b FROM checkpoints c JOIN artifacts a ON a.hash = c.hash
                    """)
            return (row?["n"] ?? 0, row?["b"] ?? 0)
        }
    }

    /// Of `hashes`, those no checkpoint, run or stage still names, deleted from the artifact
    /// table (their files go after the transaction).
    private static func unreferenced(_ hashes: [String], in db: Database) throws -> [String] {
        var gone: [String] = []
        for h in Set(hashes) {
            let used =
                try Int.fetchOne(
                    db,
                    sql: """
                        SELECT (SELECT count(*) FROM checkpoints WHERE hash = ?) + (SELECT count(*) FROM run_artifacts WHERE hash = ?)
                             + (SELECT count(*) FROM stages WHERE result = ?)
                        """, arguments: [h, h, h]) ?? 1
            if used == 0 {
                try db.execute(sql: "DELETE FROM artifacts WHERE hash = ?", arguments: [h])
                try db.execute(sql: "INSERT OR IGNORE INTO artifact_removals (hash) VALUES (?)", arguments: [h])
                gone.append(h)
            }
        }
        return gone
    }

    /// The files of artifacts whose rows are gone, then their entries in the removal journal.
    /// A file whose hash was stored again meanwhile (a row is back) stays.
    func removeArtifactFiles(_ hashes: [String]) {
        guard !hashes.isEmpty else { return }
        _ = try? write { db in
            for h in hashes {
                if try Bool.fetchOne(db, sql: "SELECT 1 FROM artifacts WHERE hash = ?", arguments: [h]) != true {
                    let file = artifactPath(h)
                    try? FileManager.default.removeItem(atPath: file)
                    rmdir((file as NSString).deletingLastPathComponent)  // only when it is empty now
                }
                try db.execute(sql: "DELETE FROM artifact_removals WHERE hash = ?", arguments: [h])
            }
        }
    }

    /// What a process killed after committing a removal left: its files, at the next opening.
    func finishArtifactRemovals() {
        removeArtifactFiles((try? read { db in try String.fetchAll(db, sql: "SELECT hash FROM artifact_removals") }) ?? [])
    }
}
