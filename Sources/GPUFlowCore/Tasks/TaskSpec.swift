/// Identifies a task within one orchestrator; assigned at submit, increasing.
public typealias TaskID = Int

public enum TaskPriority: String, NamedChoice {
    case low, normal, high, critical

    /// Steps between neighbouring priorities, in units of boost/aging.
    public static let step = 10
    public var rank: Int {
        switch self {
        case .low: return 0
        case .normal: return 1
        case .high: return 2
        case .critical: return 3
        }
    }
}

/// A GPU task of the six types, or a plain task (the original's base `Task`): arbitrary work,
/// such as a Lua function, sharing the same queue, priorities and dependencies.
public enum TaskKind: Sendable, Equatable {
    /// Boxed: a task type is hundreds of bytes, and a queue of a million plain tasks should not
    /// carry that space each.
    indirect case gpu(GPUTaskType)
    case plain

    public var typeName: String {
        switch self {
        case .gpu(let t): return t.name
        case .plain: return "plain"
        }
    }
}

/// What a task's work sees when it starts: its identity and the results of its dependencies.
public struct TaskContext: Sendable {
    public let id: TaskID
    public let name: String
    /// Results of the dependencies, in the order they were declared.
    public let dependencyResults: [TaskValue]
}

public typealias TaskWork = @Sendable (TaskContext) async throws -> TaskValue

/// Everything the orchestrator needs to queue, admit and run one task.
public struct TaskSpec: Sendable {
    // Fields ordered by alignment so that the spec packs: every queued task holds one.
    public var name: String
    public var kind: TaskKind
    /// Added to the priority (one step = `TaskPriority.step`); negative lowers it.
    public var boost: Int
    public var dependencies: [TaskID]
    /// Memory reserved from the pool while the task runs.
    public var memoryMB: Int
    public var agent: String?
    public var work: TaskWork
    private var workloadBox: WorkloadBox?
    /// Seconds before the task is failed as timed out; nil takes the profile's task_timeout_s
    /// (itself none unless set).
    public var timeoutS: Double?
    public var priority: TaskPriority
    public var durationEstimateS: Double?

    /// Sizes of the work, for the learning engine's predictions (memory at admission when none
    /// was declared, duration for ordering); nil for plain tasks. Held by reference: plain
    /// tasks, the many, carry a pointer's space for it and not the shape's.
    public var workload: WorkloadShape? {
        get { workloadBox?.shape }
        set { workloadBox = newValue.map(WorkloadBox.init) }
    }

    private final class WorkloadBox: Sendable {
        let shape: WorkloadShape
        init(_ shape: WorkloadShape) { self.shape = shape }
    }

    public init(
        name: String, kind: TaskKind, priority: TaskPriority = .normal, boost: Int = 0,
        dependencies: [TaskID] = [], memoryMB: Int? = nil, timeoutS: Double? = nil,
        durationEstimateS: Double? = nil, agent: String? = nil, work: @escaping TaskWork
    ) {
        self.name = name
        self.kind = kind
        self.priority = priority
        self.boost = boost
        self.dependencies = dependencies
        if let memoryMB {
            self.memoryMB = memoryMB
        } else if case .gpu(let t) = kind {
            self.memoryMB = t.memoryRequirementMB
        } else {
            self.memoryMB = 0
        }
        self.timeoutS = timeoutS
        if let durationEstimateS {
            self.durationEstimateS = durationEstimateS
        } else if case .gpu(.training(let t)) = kind {
            self.durationEstimateS = t.durationEstimate
        } else {
            self.durationEstimateS = nil
        }
        self.agent = agent
        self.work = work
    }
}

/// What a GPU task will do, in the sizes the learning engine predicts from.
public struct WorkloadShape: Sendable, Equatable {
    public var kind: String
    public var features: [String: Double]
    public var parameters: [String: String]
    public init(kind: String, features: [String: Double], parameters: [String: String] = [:]) {
        self.kind = kind
        self.features = features
        self.parameters = parameters
    }
}

public enum TaskState: String, Sendable, Codable {
    case blocked, queued, running, succeeded, failed, cancelled

    public var isFinal: Bool { self == .succeeded || self == .failed || self == .cancelled }
}

/// Why a task did not produce a result, and what kind of failure it was (which decides the
/// exit code of a script that fails with it).
public struct TaskFailure: Error, KindedError, Sendable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        case error(String)
        case dependencyFailed(id: TaskID, name: String, cause: String)
        case cancelled
        case timedOut(seconds: Double)
    }
    public let taskID: TaskID
    public let taskName: String
    public let reason: Reason
    public let kind: ErrorKind

    public init(taskID: TaskID, taskName: String, reason: Reason, kind: ErrorKind? = nil) {
        self.taskID = taskID
        self.taskName = taskName
        self.reason = reason
        if let kind {
            self.kind = kind
        } else if case .timedOut = reason {
            self.kind = .limit
        } else {
            self.kind = .script
        }
    }

    /// A task's work threw `error`: its message, and its kind.
    public init(taskID: TaskID, taskName: String, error: Error) {
        self.init(taskID: taskID, taskName: taskName, reason: .error("\(error)"), kind: ErrorKind.of(error))
    }

    public var description: String {
        switch reason {
        case .error(let m): return "task \(taskName) (#\(taskID)) failed: \(m)"
        case .dependencyFailed(let id, let name, let cause):
            return "task \(taskName) (#\(taskID)) not run: dependency \(name) (#\(id)) failed: \(cause)"
        case .cancelled: return "task \(taskName) (#\(taskID)) was cancelled"
        case .timedOut(let s):
            return
                "task \(taskName) (#\(taskID)) timed out after \(s) s (raise the task's timeout_s or the profile's resources.task_timeout_s)"
        }
    }

    /// The innermost cause, without the chain of task names, for a dependant's message.
    public var cause: String {
        switch reason {
        case .error(let m): return m
        case .dependencyFailed(_, _, let c): return c
        case .cancelled: return "cancelled"
        case .timedOut(let s): return "timed out after \(s) s"
        }
    }
}

public enum TaskOutcome: Sendable {
    case success(TaskValue)
    /// Boxed: a failure is several times the size of a result, and a script keeps the outcome
    /// of every task it submitted.
    indirect case failure(TaskFailure)
}

/// A read-only view of one task for status, metrics and learning.
public struct TaskRecord: Sendable {
    /// Where the memory reserved at admission came from.
    public enum MemorySource: String, Sendable {
        /// Given by the task.
        case declared
        /// The learning engine's peak for such work.
        case predicted
        /// Nothing declared and nothing learned: admitted with none.
        case none
    }

    /// A failure is rare and large (a message, a chain of names): held by reference, so that
    /// each of a million records does not carry its space inline.
    private final class FailureBox: Sendable {
        let failure: TaskFailure
        init(_ failure: TaskFailure) { self.failure = failure }
    }

    // Fields ordered by alignment so that the record packs: a queue of a million tasks holds
    // one in each entry, and the finished ones keep it.
    public let id: TaskID
    public let name: String
    public let typeName: String
    public let agent: String?
    /// Memory reserved from the pool while it runs.
    public let memoryMB: Int
    public internal(set) var submittedAt: Double
    // Times not yet known are NaN here, nil outside: an optional Double takes 16 bytes in a
    // struct, a Double 8.
    private var started: Double
    private var finished: Double
    private let durationEstimate: Double
    public let priority: TaskPriority
    public internal(set) var state: TaskState
    public internal(set) var memorySourceKind = MemorySource.declared
    private var failureBox: FailureBox?

    public init(
        id: TaskID, name: String, typeName: String, agent: String?, priority: TaskPriority, memoryMB: Int,
        durationEstimateS: Double?, state: TaskState, submittedAt: Double, startedAt: Double? = nil,
        finishedAt: Double? = nil, failure: TaskFailure? = nil
    ) {
        self.id = id
        self.name = name
        self.typeName = typeName
        self.agent = agent
        self.memoryMB = memoryMB
        self.submittedAt = submittedAt
        self.started = startedAt ?? .nan
        self.finished = finishedAt ?? .nan
        self.durationEstimate = durationEstimateS ?? .nan
        self.priority = priority
        self.state = state
        self.failureBox = failure.map(FailureBox.init)
    }

    public internal(set) var startedAt: Double? {
        get { started.isNaN ? nil : started }
        set { started = newValue ?? .nan }
    }
    public internal(set) var finishedAt: Double? {
        get { finished.isNaN ? nil : finished }
        set { finished = newValue ?? .nan }
    }
    public var durationEstimateS: Double? { durationEstimate.isNaN ? nil : durationEstimate }

    /// "declared", "predicted" or "none", as status and the record print it.
    public var memorySource: String { memorySourceKind.rawValue }

    public internal(set) var failure: TaskFailure? {
        get { failureBox?.failure }
        set { failureBox = newValue.map(FailureBox.init) }
    }

    /// Seconds between start and end, when both happened.
    public var runSeconds: Double? {
        guard let s = startedAt, let f = finishedAt else { return nil }
        return f - s
    }
    /// Seconds spent waiting (for dependencies and admission) before the start.
    public var waitSeconds: Double? {
        guard let s = startedAt else { return nil }
        return s - submittedAt
    }
}
