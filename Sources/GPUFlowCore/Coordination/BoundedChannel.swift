import Foundation

/// A bounded FIFO between agents (the pipeline pattern's buffers): `put` waits while it is
/// full — back-pressure on a fast producer — and `get` waits while it is empty. Closing wakes
/// everyone: pending and later `get`s drain what is left, then return nil.
public actor BoundedChannel {
    public struct Statistics: Sendable, Equatable {
        public var puts = 0
        public var gets = 0
        public var peakOccupancy = 0
        /// Seconds producers spent waiting for room, and consumers for an item.
        public var producerWaitS = 0.0
        public var consumerWaitS = 0.0
        public var closed = false
    }

    public nonisolated let name: String
    public nonisolated let capacity: Int
    /// Called once an item has left the channel (taken, or dropped when a waiting put fails):
    /// how a producer's memory budget gets back what the item held.
    public typealias Release = @Sendable () -> Void
    private var buffer: [(value: TaskValue, release: Release?)] = []
    private var putters: [(value: TaskValue, release: Release?, since: Date, continuation: CheckedContinuation<Void, Error>)] = []
    private var getters: [(since: Date, continuation: CheckedContinuation<TaskValue?, Never>)] = []
    private var stats = Statistics()

    public init(name: String, capacity: Int) {
        self.name = name
        self.capacity = max(1, capacity)
    }

    public func put(_ value: TaskValue, release: Release? = nil) async throws {
        if stats.closed {
            release?()
            throw ChannelError.closed(name)
        }
        if let g = getters.first {  // someone waits: hand over directly
            getters.removeFirst()
            stats.puts += 1
            stats.gets += 1
            stats.consumerWaitS += Date().timeIntervalSince(g.since)
            release?()
            g.continuation.resume(returning: value)
            return
        }
        if buffer.count < capacity {
            buffer.append((value, release))
            stats.puts += 1
            stats.peakOccupancy = max(stats.peakOccupancy, buffer.count)
            return
        }
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
            putters.append((value, release, Date(), c))
        }
    }

    /// The next item, or nil once the channel is closed and drained.
    public func get() async -> TaskValue? {
        if !buffer.isEmpty {
            let item = buffer.removeFirst()
            stats.gets += 1
            item.release?()
            admitPutter()
            return item.value
        }
        if stats.closed { return nil }
        return await withCheckedContinuation { (c: CheckedContinuation<TaskValue?, Never>) in
            getters.append((Date(), c))
        }
    }

    /// A waiting producer's item moves into the freed slot.
    private func admitPutter() {
        guard let p = putters.first, buffer.count < capacity else { return }
        putters.removeFirst()
        buffer.append((p.value, p.release))
        stats.puts += 1
        stats.peakOccupancy = max(stats.peakOccupancy, buffer.count)
        stats.producerWaitS += Date().timeIntervalSince(p.since)
        p.continuation.resume()
    }

    public func close() {
        guard !stats.closed else { return }
        stats.closed = true
        for g in getters { g.continuation.resume(returning: nil) }
        getters.removeAll()
        for p in putters {
            p.release?()
            p.continuation.resume(throwing: ChannelError.closed(name))
        }
        putters.removeAll()
    }

    public func statistics() -> Statistics { stats }
    public var count: Int { buffer.count }
}

public enum ChannelError: Error, CustomStringConvertible, Sendable {
    case closed(String)
    case unknown(String)
    public var description: String {
        switch self {
        case .closed(let n): return "channel '\(n)' is closed"
        case .unknown(let n): return "no channel '\(n)' (gpu.channel{name = ..., capacity = ...} makes one; a pipeline makes one per link)"
        }
    }
}

/// The process's channels by name, shared by every script of a run.
public actor ChannelRegistry {
    private var channels: [String: BoundedChannel] = [:]
    private var order: [String] = []

    public init() {}

    /// The channel called `name`, made with `capacity` if new; an existing one keeps its capacity.
    public func channel(_ name: String, capacity: Int) -> BoundedChannel {
        if let c = channels[name] { return c }
        let c = BoundedChannel(name: name, capacity: capacity)
        channels[name] = c
        order.append(name)
        return c
    }

    public func existing(_ name: String) -> BoundedChannel? { channels[name] }

    public func all() -> [BoundedChannel] { order.compactMap { channels[$0] } }
}
