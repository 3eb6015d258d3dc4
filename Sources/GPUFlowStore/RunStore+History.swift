import Foundation
import GPUFlowCore

/// The learning history a run read, kept with the run so `gpuflow replay` can start from it.
extension RunStore {
    /// Stores the snapshot's lines in chunks (shared by runs that read the same lines) and
    /// returns the manifest's record of them; nil for an empty history.
    public func putHistory(_ s: ExecutionHistoryStore.Snapshot) throws -> Manifest.History? {
        guard !s.lines.isEmpty else { return nil }
        // Aligned blocks of whole powers of two, at most `chunkLines` lines: the line range a
        // run read splits into a few blocks that runs reading overlapping ranges share (by
        // content hash). One chunk for the partial tail, new at every run, grew the store by
        // up to a chunk a run.
        var blocks: [Data] = [], all = Data()
        let end = s.firstIndex + s.lines.count
        var i = s.firstIndex
        while i < end {
            var size = Manifest.History.chunkLines
            while size > 1 && (i % size != 0 || i + size > end) { size /= 2 }
            var block = Data()
            for line in s.lines[(i - s.firstIndex)..<(i - s.firstIndex + size)] {
                block.append(line)
                block.append(UInt8(ascii: "\n"))
            }
            blocks.append(block)
            all.append(block)
            i += size
        }
        let chunks = try putArtifacts(blocks, kind: "history")
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
