import Synchronization

/// A flag work running off the Swift task tree (on a plain thread) can poll to learn that its
/// task was cancelled or timed out.
public final class CancellationToken: Sendable {
    private let flag = Atomic<Bool>(false)
    public init() {}
    public func cancel() { flag.store(true, ordering: .relaxed) }
    public var isCancelled: Bool { flag.load(ordering: .relaxed) }
    /// Throws `CancellationError` once cancelled.
    public func check() throws { if isCancelled { throw CancellationError() } }
}
