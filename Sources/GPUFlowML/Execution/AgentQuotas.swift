import Foundation
import GPUFlowCompute
import GPUFlowCore

/// One tensor-memory quota per agent, shared by all its tasks on every backend; the limit is
/// whatever the orchestrator has set for the agent at the moment of each allocation.
public final class AgentQuotas: @unchecked Sendable {
    private let limits: AgentMemoryLimits
    private let lock = NSLock()
    private var quotas: [String: MemoryQuota] = [:]

    public init(limits: AgentMemoryLimits) { self.limits = limits }

    public func quota(for agent: String) -> MemoryQuota {
        lock.lock()
        defer { lock.unlock() }
        if let q = quotas[agent] { return q }
        let limits = self.limits
        let q = MemoryQuota(owner: agent) { limits.limit(agent) }
        quotas[agent] = q
        return q
    }

    public func all() -> [MemoryQuota] {
        lock.lock()
        defer { lock.unlock() }
        return quotas.values.sorted { $0.owner < $1.owner }
    }
}
