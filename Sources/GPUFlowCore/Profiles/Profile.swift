/// A resolved resource profile: every field has a value, defaults are the original design's
/// (10 concurrent tasks, 4 GB pool, 100 ms monitoring, collaborative coordination, cross-agent
/// learning on).
public struct Profile: Codable, Sendable, Equatable {
    public struct Device: Codable, Sendable, Equatable {
        public enum Preference: String, NamedChoice { case discrete, integrated, cpu, any }
        public var backend: BackendKind = .auto
        public var prefer: Preference = .discrete
        public var index: Int?
        public init() {}
    }
    public struct Resources: Codable, Sendable, Equatable {
        public var maxConcurrentTasks = 10
        public var memoryPoolMB = 4096
        /// Seconds a task may run unless it sets `timeout_s`; nil (the default): no limit, as in
        /// Ray and PyTorch, so an ordinary long training is never killed by a guess.
        public var taskTimeoutS: Double?
        public var allocationStrategy: AllocationStrategy = .best_fit
        /// Seconds of waiting that raise a queued task's priority by one step (starvation guard).
        public var priorityAgingS = 5.0
        public init() {}
    }
    public struct Performance: Codable, Sendable, Equatable {
        public var monitoringIntervalMS = 100
        public init() {}
    }
    public struct Learning: Codable, Sendable, Equatable {
        public var enabled = true
        public var crossAgent = true
        /// The execution history file: "default" (under the user's data directory), "none"
        /// (this process only) or a path.
        public var history = "default"
        public init() {}
    }
    /// Circuit breakers and where tasks go when their backend faults.
    public struct Fallback: Codable, Sendable, Equatable {
        /// Consecutive device faults (device lost, out of memory) that open a backend's breaker.
        public var failureThreshold = 3
        /// Milliseconds an open breaker refuses work before one trial (half-open).
        public var cooldownMS = 30_000
        /// Backends a plain (non-hybrid) task moves to, in order, when its own faults; empty: fail.
        public var backends: [BackendKind] = []
        public init() {}
    }
    /// Injected device faults, for testing the fallback path end to end.
    public struct Faults: Codable, Sendable, Equatable {
        public enum Kind: String, NamedChoice { case device_lost, out_of_memory }
        /// The Vulkan backend fails every dispatch after this many (process-wide); nil: never.
        public var vulkanAfterDispatches: Int?
        public var kind: Kind = .device_lost
        public init() {}
    }
    public struct Coordination: Codable, Sendable, Equatable {
        /// The pattern and its parameters (`CoordinationSpec` holds their defaults and ranges).
        public var spec: CoordinationSpec = .collaborative(.init())
        /// The agents it covers (empty: all).
        public var agents: [String] = []
        public var sharingPolicy = ResourceSharingPolicy()
        public init() {}
        public var pattern: CoordinationPattern { spec.pattern }
    }
    public struct Sandbox: Codable, Sendable, Equatable {
        /// Lua VM instructions per script; 0 = unlimited.
        public var instructions = 0
        /// Lua heap per script in MiB; 0 = unlimited.
        public var memoryMB = 0
        /// Wall-clock seconds per script; 0 = unlimited.
        public var wallS = 0.0
        /// Untrusted scripts: no io, debug or os (but clock, time, date), text chunks only, read-only
        /// gpu modules, and the limits below (defaults applied where a limit is 0).
        public var enabled = false
        /// Lua call depth; 0 = unlimited (Lua's own stack limit still holds).
        public var maxDepth = 0
        /// Bytes a script may print; 0 = unlimited.
        public var maxOutputKB = 0
        /// Tasks a script may submit; 0 = unlimited.
        public var maxTasks = 0
        public init() {}

        /// The limits a sandboxed script gets where the profile leaves one at 0.
        public var withDefaults: Sandbox {
            var s = self
            if s.instructions == 0 { s.instructions = 2_000_000_000 }
            if s.memoryMB == 0 { s.memoryMB = 256 }
            if s.wallS == 0 { s.wallS = 120 }
            if s.maxDepth == 0 { s.maxDepth = 200 }
            if s.maxOutputKB == 0 { s.maxOutputKB = 1024 }
            if s.maxTasks == 0 { s.maxTasks = 1000 }
            return s
        }
    }
    public struct Agent: Codable, Sendable, Equatable {
        public var maxMemoryMB: Int?
        public var maxConcurrentTasks: Int?
        public var maxComputePercent: Double?
        /// This agent's script limits, in place of the profile's sandbox section (keys left out
        /// keep the profile's values).
        public var sandbox: Sandbox?
        public init() {}
    }

    /// Where `gpuflow submit` sends a workflow's stages: Slurm's partition, account and limits,
    /// and the run directory every node reads and writes (it must be on a shared filesystem).
    public struct Cluster: Codable, Sendable, Equatable {
        public enum Scheduler: String, NamedChoice { case slurm }
        public var scheduler: Scheduler?
        public var partition: String?
        public var account: String?
        /// Slurm's --time for stages that name none ("HH:MM:SS", "D-HH:MM:SS" or minutes).
        public var time: String?
        public var gpusPerStage = 1
        /// More `#SBATCH` options, each as written on sbatch's command line ("--qos=high").
        public var sbatchOptions: [String] = []
        /// Runs live in RUN_DIR/RUN_ID; default: "gpuflow-runs" under the working directory.
        public var runDir: String?
        /// A Mustache template for the batch scripts in place of the built-in one.
        public var template: String?
        /// The gpuflow executable the nodes run (default: this one, by absolute path).
        public var gpuflow: String?
        /// How many tasks of one job array may run at once (sbatch --array=...%N); 0: no limit.
        public var arrayThrottle = 0
        public init() {}
    }

    public var name = "default"
    public var device = Device()
    public var resources = Resources()
    public var performance = Performance()
    public var learning = Learning()
    public var coordination = Coordination()
    public var sandbox = Sandbox()
    public var fallback = Fallback()
    /// The run store: "default" (runs.sqlite under the user's data directory), "none" (runs
    /// are not recorded) or a path.
    public var store = "default"
    /// The experiment runs under this profile belong to (`store.experiment`; `--experiment`
    /// replaces it), as `gpuflow runs list --experiment` groups them.
    public var experiment: String?
    /// How the run store keeps training checkpoints for `gpuflow run --resume`: written at most
    /// as often as keeps their cost under a share of the training time, only the newest few per
    /// task, dropped once the task succeeds.
    public var checkpoints = CheckpointPolicy()
    public var faults = Faults()
    public var cluster = Cluster()
    public var agents: [String: Agent] = [:]
    /// Where the profile came from ("built-in defaults" or a path), for messages and records.
    public var source = "built-in defaults"

    public init() {}
}
