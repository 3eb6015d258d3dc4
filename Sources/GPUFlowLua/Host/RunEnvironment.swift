import Foundation
import GPUFlowCore
import GPUFlowML
import GPUFlowStore
import Logging

/// What every job of one run shares: the orchestrator, the profile, the backend choice and the
/// seed. Immutable; the orchestrator is an actor.
public struct RunEnvironment: Sendable {
    public let orchestrator: GPUTaskOrchestrator
    public let profile: Profile
    public let backend: BackendKind
    /// The backend that really runs the work ("cpu" for auto in this build).
    public let backendName: String
    /// Why that backend (shown by `gpu.backend()` and in the run banner).
    public let backendReason: String
    public let seed: UInt64
    public let stdlibPath: String
    /// Where `print` goes. Defaults to stdout.
    public let output: @Sendable (String) -> Void
    public let logger: Logger
    /// Samples the device and gathers per-task figures while the scripts run.
    public let monitor: GPUPerformanceMonitor
    /// The device every task of the run uses, with the run's fault injector if one is armed.
    public let device: DeviceSelection

    /// What GPU work shares: the orchestrator's learning engine and breakers, the monitor and
    /// the profile's fallback for plain tasks.
    public var services: ExecutionServices {
        var s = ExecutionServices(
            orchestrator: orchestrator, monitor: monitor, fallbackBackends: profile.fallback.backends, logger: logger,
            quotas: quotas, buffers: buffers)
        s.observer = observer
        s.checkpoints = store.map { StoreCheckpoints(store: $0, policy: profile.checkpoints) }
        s.admission = admission
        s.slices = slices
        return s
    }
    /// Where the run is recorded (nil: not recorded), under which id.
    public var store: RunStore?
    public var runID: String?
    /// Hears task starts, epochs and results (the recorder and the progress display).
    public var observer: RunObserver?
    /// A job server's admission and time slices (set in its workers).
    public var admission: AdmissionControl?
    public var slices: SliceControl?
    /// Whether workflow stages may come from the cache; a replay recomputes every stage.
    public var stageLookups = true
    /// Run every stage, only plan them, or run one stage of a cluster run.
    public var stageMode: StageMode = .normal
    /// Every module the scripts loaded, with its hash, for the manifest.
    public let modules = ModuleLog()
    /// Each agent's tensor-memory quota, for the whole run.
    public let quotas: AgentQuotas
    /// Buffers allocated by memory_management tasks, for the run.
    public let buffers = DeviceBufferRegistry()
    /// Bounded channels between scripts (pipelines), by name.
    public let channels = ChannelRegistry()
    /// Called by the watchdog when a sandboxed script is still running past its wall-time limit
    /// inside a call no hook reaches: must end the process (exit 3). The CLI records the run's
    /// end first; the default prints the reason and exits.
    public var watchdogExpired: @Sendable (String) -> Void = RunEnvironment.exitForLimit

    public static let exitForLimit: @Sendable (String) -> Void = { message in
        FileHandle.standardError.write(Data("error: \(message)\n".utf8))
        _exit(3)
    }

    public init(
        orchestrator: GPUTaskOrchestrator, profile: Profile, backend: BackendKind, backendName: String, backendReason: String,
        seed: UInt64, stdlibPath: String, output: @escaping @Sendable (String) -> Void = RunEnvironment.standardOutput,
        logger: Logger = Logger(label: "gpuflow.lua"), monitor: GPUPerformanceMonitor? = nil
    ) {
        self.monitor = monitor ?? GPUPerformanceMonitor(intervalMS: profile.performance.monitoringIntervalMS)
        device = DeviceSelection(profile: profile, faults: DeviceSelection.faults(for: profile))
        quotas = AgentQuotas(limits: orchestrator.memoryLimits)
        self.orchestrator = orchestrator
        self.profile = profile
        self.backend = backend
        self.backendName = backendName
        self.backendReason = backendReason
        self.seed = seed
        self.stdlibPath = stdlibPath
        self.output = output
        self.logger = logger
    }

    public static let standardOutput: @Sendable (String) -> Void = { text in
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}

/// A script to run and the arguments it sees as `arg`.
public struct ScriptRequest: Sendable {
    public let path: String
    public let arguments: [String]
    public let agent: String?
    /// Text to run in place of the file's (`replay --recorded`): it runs as if from `path`, so
    /// its requires resolve from the script's folder and nothing is written beside it.
    public let text: String?
    public init(path: String, arguments: [String] = [], agent: String? = nil, text: String? = nil) {
        self.path = path
        self.arguments = arguments
        self.agent = agent
        self.text = text
    }
}

/// How a job ended; a failure keeps its kind, which alone decides the exit code
/// (`ErrorKind.exitCode`).
public struct JobResult: Sendable {
    public enum Status: Sendable, Equatable {
        case success
        case failed(ErrorKind)
        /// The script called os.exit with a nonzero status (os.exit(0) is a success).
        case exited(Int32)

        public static let scriptError = Status.failed(.script)
        public static let inputError = Status.failed(.input)
        public static let limitExceeded = Status.failed(.limit)

        public var kind: ErrorKind? {
            if case .failed(let k) = self { return k }
            return nil
        }
    }
    public let script: String
    public let status: Status
    /// The first line to show (`error: train.lua:12: ...`); nil on success.
    public let message: String?
    /// The Lua traceback, shown after the message.
    public let traceback: String?
    /// Warnings worth showing, such as failed tasks nobody awaited.
    public let warnings: [String]

    public var exitCode: Int32 {
        if case .exited(let n) = status { return n }
        return status.kind?.exitCode ?? 0
    }
}
