import Foundation
import GPUFlowCore
import GPUFlowML
import GPUFlowStore

/// The Lua files a run loaded (stdlib modules and the user's), each once, with the SHA-256 of
/// the text that ran: the manifest's list of what a replay must find unchanged.
public final class ModuleLog: @unchecked Sendable {
    private let lock = NSLock()
    private var modules: [String: Manifest.Module] = [:]

    public init() {}

    /// The first script's folder: user modules are also recorded relative to it, so a replay
    /// of a project that moved still finds them.
    public var scriptDirectory: String?

    public func note(name: String, path given: String, text: String) {
        // Absolute, so a replay from another directory checks the same file (stdlib modules are
        // recorded as stdlib/…, the stdlib of the gpuflow that replays).
        let path = given.hasPrefix("stdlib/") ? given : Manifest.absolutePath(given)
        lock.lock()
        defer { lock.unlock() }
        guard modules[path] == nil else { return }
        var m = Manifest.Module(name: name, path: path, hash: ContentHash.of(text))
        if let dir = scriptDirectory, path.hasPrefix(dir + "/") { m.relativePath = String(path.dropFirst(dir.count + 1)) }
        modules[path] = m
    }

    public func note(name: String, path: String) {
        guard let d = FileManager.default.contents(atPath: path) else { return }
        note(name: name, path: path, text: String(decoding: d, as: UTF8.self))
    }

    public var all: [Manifest.Module] {
        lock.lock()
        defer { lock.unlock() }
        return modules.values.sorted { $0.path < $1.path }
    }
}

/// Training checkpoints kept in the run store (content-addressed), found again by task key;
/// only the newest `keepLast` of a task stay.
final class StoreCheckpoints: CheckpointStore, @unchecked Sendable {
    let store: RunStore
    let policy: CheckpointPolicy
    init(store: RunStore, policy: CheckpointPolicy) {
        self.store = store
        self.policy = policy
    }

    func save(key: String, checkpoint: Data) {
        // A failed write loses only the chance to resume from this epoch, never the run.
        try? store.putCheckpoint(key: key, data: checkpoint, keep: policy.keepLast)
    }

    func load(key: String) -> Data? { try? store.latestCheckpoint(key: key) }

    func drop(key: String) { try? store.dropCheckpoints(key: key) }
}
