import Foundation

/// What the scripts printed, kept for the run's record (the `output.txt` artifact, shown in the
/// report): the first `limit` bytes, then a note of how much more there was, so that a script
/// printing in a loop cannot fill the store.
final class ScriptOutput: @unchecked Sendable {
    static let keptBytes = 1 << 20
    private let lock = NSLock()
    private var kept = Data()
    private var dropped = 0
    private let limit: Int

    init(limit: Int = ScriptOutput.keptBytes) { self.limit = limit }

    func append(_ text: String) {
        let bytes = Data(text.utf8)
        lock.lock()
        defer { lock.unlock() }
        let room = max(0, limit - kept.count)
        kept.append(bytes.prefix(room))
        dropped += max(0, bytes.count - room)
    }

    /// The text to keep, nil when nothing was printed.
    var recorded: Data? {
        lock.lock()
        defer { lock.unlock() }
        guard !kept.isEmpty else { return nil }
        return dropped == 0 ? kept : kept + Data("\n[gpuflow: \(dropped) more bytes of output were not kept]\n".utf8)
    }
}
