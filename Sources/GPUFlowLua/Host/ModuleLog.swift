import Foundation
import GPUFlowStore
import GPUFlowML

/// The Lua files a run loaded (stdlib modules and the user's), each once, with the SHA-256 of
/// the text that ran: the manifest's list of what a replay must find unchanged.
public final class ModuleLog: @unchecked Sendable {
    private let lock = NSLock()
    private var modules: [String: Manifest.Module] = [:]

    public init() {}

    public func note(name: String, path: String, text: String) {
        lock.lock()
        defer { lock.unlock() }
        if modules[path] == nil { modules[path] = Manifest.Module(name: name, path: path, hash: ContentHash.of(text)) }
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
