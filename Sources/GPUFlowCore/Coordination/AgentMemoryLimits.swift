import Foundation

/// The memory each agent may hold in tensors, as the orchestrator sets it (partitions, the
/// profile's max_memory_mb). The allocator side (one quota per agent, in the layers above)
/// reads it on every allocation, so a partition that changes applies at once.
public final class AgentMemoryLimits: @unchecked Sendable {
    private let lock = NSLock()
    private var limits: [String: Int] = [:]

    public init() {}

    public func set(_ agent: String, bytes: Int?) {
        lock.lock()
        limits[agent] = bytes
        lock.unlock()
    }

    public func limit(_ agent: String) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        return limits[agent]
    }

    public func all() -> [String: Int] {
        lock.lock()
        defer { lock.unlock() }
        return limits
    }
}

/// How the space_partitioned pattern splits the pool and the concurrent slots among agents.
public enum Partitioning {
    public struct Share: Sendable, Equatable {
        public var memoryMB: Int
        public var slots: Int
        public init(memoryMB: Int, slots: Int) {
            self.memoryMB = memoryMB
            self.slots = slots
        }
    }

    /// `demand`: memory each agent holds or waits for (for the adaptive strategy).
    public static func shares(
        agents: [String], poolMB: Int, slots: Int, strategy: PartitionStrategy,
        demand: [String: Int] = [:], minShare: Double? = nil
    ) -> [String: Share] {
        guard !agents.isEmpty else { return [:] }
        var fractions: [String: Double] = [:]
        switch strategy {
        case .static, .dynamic:
            for a in agents { fractions[a] = 1 / Double(agents.count) }
        case .adaptive:
            let total = agents.reduce(0) { $0 + max(demand[$1] ?? 0, 0) }
            let floor = minShare ?? 0.1 / Double(agents.count)
            for a in agents {
                fractions[a] = total > 0 ? max(floor, Double(max(demand[a] ?? 0, 0)) / Double(total)) : 1 / Double(agents.count)
            }
            let sum = fractions.values.reduce(0, +)
            for a in agents { fractions[a] = (fractions[a] ?? 0) / sum }
        case .hierarchical:
            // "group/agent": the pool is split evenly among groups, then among a group's agents.
            let groups = Dictionary(grouping: agents) { $0.split(separator: "/").first.map(String.init) ?? $0 }
            for (_, members) in groups {
                for a in members { fractions[a] = 1 / Double(groups.count) / Double(members.count) }
            }
        }
        var out: [String: Share] = [:]
        for a in agents {
            let f = fractions[a] ?? 0
            out[a] = Share(memoryMB: Int((Double(poolMB) * f).rounded(.down)), slots: max(1, Int((Double(slots) * f).rounded(.down))))
        }
        return out
    }
}
