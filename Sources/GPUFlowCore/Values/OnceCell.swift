import Foundation

/// A value computed the first time it is asked for, once, from any thread: content hashes of
/// immutable data (a data set's or a model's id) that most runs never read, and that a
/// training exporting its model every epoch must not pay for each time.
public final class OnceCell<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value?

    public init() {}

    public func get(_ make: () -> Value) -> Value {
        lock.lock()
        defer { lock.unlock() }
        if let value { return value }
        let made = make()
        value = made
        return made
    }
}
