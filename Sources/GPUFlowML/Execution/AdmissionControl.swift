import GPUFlowCore

/// Admission by an orchestrator outside this process: a job server's workers ask the server's
/// orchestrator before each GPU task, so coordination patterns and per-agent limits hold across
/// every job it runs, not only within one.
public protocol AdmissionControl: Sendable {
    /// Waits until the task may run; returns the lease to give back when it ends, and the bytes
    /// of tensors the agent may hold meanwhile in this process (its limit less what its other
    /// jobs hold), or nil where the agent has no limit.
    func acquire(_ task: GPUTaskType, name: String, agent: String?, memoryMB: Int) async throws -> (lease: String, allowanceBytes: Int?)
    func release(_ lease: String) async
}

/// Time slices granted by a job server: `ensure` returns at once while the agent's slice lasts
/// and otherwise waits for the next one; `release` gives the device back when a task ends.
public protocol SliceControl: Sendable {
    func ensure(agent: String) throws
    func release(agent: String)
}
