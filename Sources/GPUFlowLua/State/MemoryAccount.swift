import CLuaShim
import Foundation
import GPUFlowCore

/// A script's memory budget, as something host objects outside its Lua state can hold on to:
/// a channel item it put, say, gives its bytes back when another script takes it, possibly after
/// the putting script has ended. Once the state is closed the account gives nothing back to it.
final class MemoryAccount: @unchecked Sendable {
    private let lock = NSLock()
    private var limits: UnsafeMutablePointer<gf_limits>?

    init(_ limits: UnsafeMutablePointer<gf_limits>) { self.limits = limits }

    /// Reserves `bytes`; false (and the memory limit tripped) when they do not fit.
    func charge(_ bytes: Int) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard let limits else { return false }
        return gf_charge(limits, max(0, bytes)) == 0
    }

    func release(_ bytes: Int) {
        lock.lock()
        defer { lock.unlock() }
        if let limits { gf_release(limits, max(0, bytes)) }
    }

    /// The state is gone: later releases go nowhere.
    func close() {
        lock.lock()
        limits = nil
        lock.unlock()
    }

    /// Host bytes a value holds: its strings, arrays and tables (objects are charged where they
    /// reach a script, by `LuaObjects.push`).
    static func bytes(of value: TaskValue) -> Int {
        switch value {
        case .null, .bool, .integer, .number: return 16
        case .string(let s): return 32 + s.utf8.count
        case .bytes(let b): return 32 + b.count
        case .floats(let f): return 32 + 4 * f.count
        case .array(let items): return items.reduce(32) { $0 + bytes(of: $1) }
        case .table(let pairs): return pairs.reduce(32) { $0 + 32 + $1.0.utf8.count + bytes(of: $1.1) }
        case .object: return 32
        }
    }
}
