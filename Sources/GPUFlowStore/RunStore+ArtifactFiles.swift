import Foundation
import GRDB

/// Artifact files and their rows stay in step across a kill: a file is written whole under
/// `.partial/HASH-NONCE-PID`, its row committed, and only then renamed into place. A process killed
/// before its commit leaves a partial that the next opening removes; killed after it, one that
/// the next opening moves into place. (Written straight into place before the commit, a kill
/// left files no row names, which nothing would ever remove.)
extension RunStore {
    /// An artifact's bytes on disk, not yet in place.
    struct StagedArtifact {
        let hash: String
        let bytes: Int
        let partial: String
    }

    var partialDirectory: String { artifactDirectory + "/.partial" }

    func stageArtifact(_ data: Data) throws -> StagedArtifact {
        let hash = ContentHash.of(data)
        // Always a partial, even when the file is there: a removal (another thread's or
        // process's pruning) may delete that file between this look and this row's commit,
        // while a partial is moved into place only after the commit. Unique per call, so two
        // threads storing the same bytes do not write one partial.
        let partial = partialDirectory + "/" + hash + "-\(UInt32.random(in: 0...UInt32.max))-\(getpid())"
        do {
            try FileManager.default.createDirectory(atPath: partialDirectory, withIntermediateDirectories: true)
            try data.write(to: URL(fileURLWithPath: partial))
        } catch {
            try? FileManager.default.removeItem(atPath: partial)
            let full = (error as NSError).code == NSFileWriteOutOfSpaceError
            throw full ? StoreError.full(path: partial) : StoreError.unwritable(path: partial, detail: error.localizedDescription)
        }
        return StagedArtifact(hash: hash, bytes: data.count, partial: partial)
    }

    /// Moves committed artifacts' files into place. A failure here is repaired at the next
    /// opening (the partial stays, its row exists).
    func publish(_ staged: [StagedArtifact]) {
        for a in staged {
            place(a.partial, hash: a.hash)
        }
    }

    private func place(_ partial: String, hash: String) {
        let file = artifactPath(hash)
        let dir = (file as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        if rename(partial, file) != 0 { try? FileManager.default.removeItem(atPath: partial) }
    }

    /// Partials whose writer is gone: into place when their row was committed (and the file is
    /// not there yet), removed otherwise.
    func recoverPartialArtifacts() {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: partialDirectory), !names.isEmpty else { return }
        for name in names {
            guard let dash = name.lastIndex(of: "-"), let pid = Int32(name[name.index(after: dash)...]), !Self.alive(pid) else { continue }
            let hash = String(name.prefix { $0 != "-" })
            let path = partialDirectory + "/" + name
            let committed =
                (try? write { db in try Bool.fetchOne(db, sql: "SELECT 1 FROM artifacts WHERE hash = ?", arguments: [hash]) }) ?? nil
            if committed == true, !FileManager.default.fileExists(atPath: artifactPath(hash)),
                let data = FileManager.default.contents(atPath: path), ContentHash.of(data) == hash
            {
                place(path, hash: hash)
            } else {
                try? FileManager.default.removeItem(atPath: path)
            }
        }
    }
}
