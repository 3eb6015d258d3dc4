import Foundation
import GPUFlowCore

/// The learning history a run read, kept with the run so `gpuflow replay` can start from it.
extension RunStore {
    /// Stores the snapshot's lines in chunks (shared by runs that read the same lines) and
    /// returns the manifest's record of them; nil for an empty history.
    public func putHistory(_ s: ExecutionHistoryStore.Snapshot) throws -> Manifest.History? {
        guard !s.lines.isEmpty else { return nil }
        let n = Manifest.History.chunkLines
        var chunks: [String] = [], all = Data(), chunk = Data()
        for (k, line) in s.lines.enumerated() {
            chunk.append(line)
            chunk.append(UInt8(ascii: "\n"))
            let index = s.firstIndex + k
            if (index + 1) % n == 0 || k == s.lines.count - 1 {
                chunks.append(try putArtifact(chunk, kind: "history"))
                all.append(chunk)
                chunk = Data()
            }
        }
        return Manifest.History(entries: s.lines.count, firstIndex: s.firstIndex, chunks: chunks, hash: ContentHash.of(all))
    }

    /// The history a run read, as it read it; throws when a chunk is missing or damaged.
    public func history(_ h: Manifest.History, run: String) throws -> ExecutionHistoryStore.Snapshot {
        var all = Data()
        for c in h.chunks { all.append(try artifact(c)) }
        var s = ExecutionHistoryStore.decode(all)
        s.firstIndex = h.firstIndex
        guard ContentHash.of(all) == h.hash, s.entries.count == h.entries else {
            throw StoreError.corrupt(
                path: artifactDirectory, detail: "the learning history run \(run) read (\(h.entries) entries) does not match its record")
        }
        return s
    }
}
