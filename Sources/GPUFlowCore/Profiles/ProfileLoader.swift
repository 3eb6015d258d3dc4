import Foundation
import Yams

/// Reads a YAML profile strictly: unknown keys, wrong types and impossible values are errors
/// that name the file, line and column. Works on Yams' node tree (not Codable) because only the
/// nodes carry positions.
public enum ProfileLoader {
    public static func load(path: String) throws -> Profile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ProfileError(file: path, line: 0, column: 0, message: "cannot read profile (missing or unreadable)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ProfileError(file: path, line: 0, column: 0, message: "profile is not UTF-8 text")
        }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws -> Profile {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw yamlError(error, file: file)
        }
        var profile = Profile()
        profile.source = file
        guard let root else { return profile }  // an empty file is the defaults
        let r = Reader(file: file)
        try r.mapping(root, "profile") { key, value in
            switch key {
            case "name": profile.name = try r.string(value, key)
            case "device":
                try r.mapping(value, key) { k, v in
                    switch k {
                    case "backend": profile.device.backend = try r.choice(v, k)
                    case "prefer": profile.device.prefer = try r.choice(v, k)
                    case "index": profile.device.index = try r.int(v, k, min: 0)
                    default: throw r.unknown(k, v, in: "device", known: "backend, prefer, index")
                    }
                }
            case "resources":
                try r.mapping(value, key) { k, v in
                    switch k {
                    case "max_concurrent_tasks": profile.resources.maxConcurrentTasks = try r.int(v, k, min: 1, max: 4096)
                    case "memory_pool_mb": profile.resources.memoryPoolMB = try r.int(v, k, min: 1, max: 1 << 24)
                    case "task_timeout_s":
                        profile.resources.taskTimeoutS = try r.optionalDouble(v, k, min: 0.001)
                    case "allocation_strategy": profile.resources.allocationStrategy = try r.choice(v, k)
                    case "priority_aging_s": profile.resources.priorityAgingS = try r.double(v, k, min: 0.001)
                    default:
                        throw r.unknown(
                            k, v, in: "resources",
                            known: "max_concurrent_tasks, memory_pool_mb, task_timeout_s, allocation_strategy, priority_aging_s")
                    }
                }
            case "performance":
                try r.mapping(value, key) { k, v in
                    switch k {
                    case "monitoring_interval_ms": profile.performance.monitoringIntervalMS = try r.int(v, k, min: 1, max: 3_600_000)
                    default: throw r.unknown(k, v, in: "performance", known: "monitoring_interval_ms")
                    }
                }
            case "learning":
                try r.mapping(value, key) { k, v in
                    switch k {
                    case "enabled": profile.learning.enabled = try r.bool(v, k)
                    case "cross_agent": profile.learning.crossAgent = try r.bool(v, k)
                    case "history":
                        let h = try r.string(v, k)
                        if h.isEmpty {
                            throw r.error(at: v.mark, "'history' must be \"default\", \"none\" or a file path, got an empty string")
                        }
                        profile.learning.history = h
                    default: throw r.unknown(k, v, in: "learning", known: "enabled, cross_agent, history")
                    }
                }
            case "coordination":
                var pattern = profile.coordination.pattern
                var parameters: [String: Node] = [:]
                var sharing: [String: Node] = [:]
                let known = ["pattern", "agents", "sharing_policy"] + CoordinationSpec.allParameterNames
                try r.mapping(value, key) { k, v in
                    switch k {
                    case "pattern": pattern = try r.choice(v, k)
                    case "agents": profile.coordination.agents = try r.list(v, k) { try r.string($0, k) }
                    case "sharing_policy":
                        try r.mapping(v, "sharing_policy") { pk, pv in
                            guard ResourceSharingPolicy.parameterNames.contains(pk) else {
                                throw r.unknown(
                                    pk, pv, in: "coordination.sharing_policy",
                                    known: ResourceSharingPolicy.parameterNames.joined(separator: ", "))
                            }
                            sharing[pk] = pv
                        }
                    default:
                        guard CoordinationSpec.allParameterNames.contains(k) else {
                            throw r.unknown(k, v, in: "coordination", known: known.joined(separator: ", "))
                        }
                        parameters[k] = v
                    }
                }
                let mine = CoordinationSpec.parameterNames(pattern)
                if let (k, v) = parameters.first(where: { !mine.contains($0.key) }) {
                    let owner = CoordinationPattern.allCases.first { CoordinationSpec.parameterNames($0).contains(k) }
                    throw r.error(
                        at: v.mark,
                        "coordination.\(k) is a parameter of the \(owner?.rawValue ?? "?") pattern, not of \(pattern.rawValue)"
                            + (mine.isEmpty ? " (which has none)" : " (whose parameters are \(mine.joined(separator: ", ")))"))
                }
                profile.coordination.spec = try CoordinationSpec.read(
                    pattern, from: YAMLParameters(reader: r, nodes: parameters, section: "coordination", whole: value))
                profile.coordination.sharingPolicy = try ResourceSharingPolicy.read(
                    from: YAMLParameters(reader: r, nodes: sharing, section: "coordination.sharing_policy", whole: value))
            case "sandbox":
                try r.mapping(value, key) { k, v in
                    switch k {
                    case "instructions": profile.sandbox.instructions = try r.int(v, k, min: 0)
                    case "memory_mb": profile.sandbox.memoryMB = try r.int(v, k, min: 0, max: 1 << 20)
                    case "wall_s": profile.sandbox.wallS = try r.double(v, k, min: 0)
                    case "enabled": profile.sandbox.enabled = try r.bool(v, k)
                    case "max_depth": profile.sandbox.maxDepth = try r.int(v, k, min: 0, max: 100_000)
                    case "max_output_kb": profile.sandbox.maxOutputKB = try r.int(v, k, min: 0)
                    case "max_tasks": profile.sandbox.maxTasks = try r.int(v, k, min: 0)
                    default:
                        throw r.unknown(
                            k, v, in: "sandbox", known: "enabled, instructions, memory_mb, wall_s, max_depth, max_output_kb, max_tasks")
                    }
                }
            case "fallback":
                try r.mapping(value, "fallback") { k, v in
                    switch k {
                    case "failure_threshold": profile.fallback.failureThreshold = try r.int(v, k, min: 1, max: 1000)
                    case "cooldown_ms": profile.fallback.cooldownMS = try r.int(v, k, min: 0, max: 86_400_000)
                    case "backends": profile.fallback.backends = try r.list(v, k) { try r.choice($0, k) }
                    default: throw r.unknown(k, v, in: "fallback", known: "failure_threshold, cooldown_ms, backends")
                    }
                }
            case "store":
                try r.mapping(value, "store") { k, v in
                    switch k {
                    case "path":
                        let path = try r.string(v, k)
                        if path.isEmpty {
                            throw r.error(at: v.mark, "'path' must be \"default\", \"none\" or a file path, got an empty string")
                        }
                        profile.store = path
                    case "experiment":
                        let e = try r.string(v, k)
                        if e.isEmpty || e.count > 250 { throw r.error(at: v.mark, "'experiment' must be a name of 1 to 250 characters") }
                        profile.experiment = e
                    case "checkpoint_keep_last": profile.checkpoints.keepLast = try r.int(v, k, min: 1, max: 1000)
                    case "checkpoint_max_overhead": profile.checkpoints.maxOverhead = try r.double(v, k, min: 0.0001, max: 1)
                    case "checkpoint_keep_on_success": profile.checkpoints.keepOnSuccess = try r.bool(v, k)
                    case "checkpoint_first_after_s": profile.checkpoints.firstWriteAfter = try r.double(v, k, min: 0, max: 86_400)
                    default:
                        throw r.unknown(
                            k, v, in: "store",
                            known:
                                "path, experiment, checkpoint_keep_last, checkpoint_max_overhead, checkpoint_first_after_s, checkpoint_keep_on_success"
                        )
                    }
                }
            case "faults":
                try r.mapping(value, "faults") { k, v in
                    switch k {
                    case "vulkan_after_dispatches": profile.faults.vulkanAfterDispatches = try r.int(v, k, min: 0)
                    case "kind": profile.faults.kind = try r.choice(v, k)
                    default: throw r.unknown(k, v, in: "faults", known: "vulkan_after_dispatches, kind")
                    }
                }
            case "cluster":
                try r.mapping(value, "cluster") { k, v in
                    switch k {
                    case "scheduler": profile.cluster.scheduler = try r.choice(v, k)
                    case "partition": profile.cluster.partition = try r.word(v, k)
                    case "account": profile.cluster.account = try r.word(v, k)
                    case "time":
                        let t = try r.string(v, k)
                        guard SlurmTime.minutes(t) != nil else {
                            throw r.error(at: v.mark, "'time' must be minutes, MM:SS, HH:MM:SS or D-HH:MM:SS, got \"\(t)\"")
                        }
                        profile.cluster.time = t
                    case "gpus_per_stage": profile.cluster.gpusPerStage = try r.int(v, k, min: 0, max: 1024)
                    case "sbatch_options":
                        profile.cluster.sbatchOptions = try r.list(v, k) { n in
                            let o = try r.string(n, k)
                            guard o.hasPrefix("-"), !o.contains("\n") else {
                                throw r.error(at: n.mark, "each of 'sbatch_options' is one sbatch option such as --qos=high, got \"\(o)\"")
                            }
                            return o
                        }
                    case "run_dir": profile.cluster.runDir = try r.string(v, k)
                    case "template": profile.cluster.template = try r.string(v, k)
                    case "gpuflow": profile.cluster.gpuflow = try r.string(v, k)
                    case "array_throttle": profile.cluster.arrayThrottle = try r.int(v, k, min: 0, max: 1_000_000)
                    default:
                        throw r.unknown(
                            k, v, in: "cluster",
                            known:
                                "scheduler, partition, account, time, gpus_per_stage, sbatch_options, run_dir, template, gpuflow, array_throttle"
                        )
                    }
                }
            case "agents":
                try r.mapping(value, key) { agentName, v in
                    var agent = Profile.Agent()
                    try r.mapping(v, agentName) { k, av in
                        switch k {
                        case "max_memory_mb": agent.maxMemoryMB = try r.int(av, k, min: 1)
                        case "max_concurrent_tasks": agent.maxConcurrentTasks = try r.int(av, k, min: 1)
                        case "max_compute_percent": agent.maxComputePercent = try r.double(av, k, min: 0.001, max: 100)
                        case "sandbox":
                            var sb = profile.sandbox
                            try r.mapping(av, "sandbox") { sk, sv in
                                switch sk {
                                case "instructions": sb.instructions = try r.int(sv, sk, min: 0)
                                case "memory_mb": sb.memoryMB = try r.int(sv, sk, min: 0, max: 1 << 20)
                                case "wall_s": sb.wallS = try r.double(sv, sk, min: 0)
                                case "max_depth": sb.maxDepth = try r.int(sv, sk, min: 0, max: 100_000)
                                case "max_output_kb": sb.maxOutputKB = try r.int(sv, sk, min: 0)
                                case "max_tasks": sb.maxTasks = try r.int(sv, sk, min: 0)
                                default:
                                    throw r.unknown(
                                        sk, sv, in: "agents.\(agentName).sandbox",
                                        known: "instructions, memory_mb, wall_s, max_depth, max_output_kb, max_tasks")
                                }
                            }
                            agent.sandbox = sb
                        default:
                            throw r.unknown(
                                k, av, in: "agents.\(agentName)",
                                known: "max_memory_mb, max_concurrent_tasks, max_compute_percent, sandbox")
                        }
                    }
                    profile.agents[agentName] = agent
                }
            default:
                throw r.unknown(
                    key, value, in: "the profile",
                    known: "name, device, resources, performance, learning, coordination, sandbox, fallback, faults, store, cluster, agents"
                )
            }
        }
        // Cross-field checks: each agent's share must fit in what the whole profile grants.
        for (name, agent) in profile.agents.sorted(by: { $0.key < $1.key }) {
            if let mem = agent.maxMemoryMB, mem > profile.resources.memoryPoolMB {
                throw r.error(
                    at: r.marks["agents.\(name).max_memory_mb"],
                    "agents.\(name).max_memory_mb (\(mem)) exceeds resources.memory_pool_mb (\(profile.resources.memoryPoolMB))")
            }
            if let n = agent.maxConcurrentTasks, n > profile.resources.maxConcurrentTasks {
                throw r.error(
                    at: r.marks["agents.\(name).max_concurrent_tasks"],
                    "agents.\(name).max_concurrent_tasks (\(n)) exceeds resources.max_concurrent_tasks (\(profile.resources.maxConcurrentTasks))"
                )
            }
        }
        return profile
    }

    private static func yamlError(_ error: YamlError, file: String) -> ProfileError {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return ProfileError(file: file, line: mark.line, column: mark.column, message: "invalid YAML: \(problem)")
        case .duplicatedKeysInMapping(let dups, let context):
            return ProfileError(
                file: file, line: context.mark.line, column: context.mark.column,
                message: "duplicate key \(dups.joined(separator: ", "))")
        default:
            return ProfileError(file: file, line: 0, column: 0, message: "invalid YAML: \(error)")
        }
    }
}

/// Typed access to YAML nodes that turns every mismatch into a positioned ProfileError.
private final class Reader {
    let file: String
    /// Positions of the keys read so far, by dotted path, for checks that span fields.
    var marks: [String: Mark] = [:]
    private var path: [String] = []

    init(file: String) { self.file = file }

    func error(at mark: Mark?, _ message: String) -> ProfileError {
        ProfileError(file: file, line: mark?.line ?? 0, column: mark?.column ?? 0, message: message)
    }

    func unknown(_ key: String, _ value: Node, in section: String, known: String) -> ProfileError {
        error(at: keyMarks[key] ?? value.mark, "unknown key '\(key)' in \(section) (expected one of: \(known))")
    }

    private var keyMarks: [String: Mark] = [:]

    func mapping(_ node: Node, _ name: String, _ body: (String, Node) throws -> Void) throws {
        guard case .mapping(let map) = node else {
            throw error(at: node.mark, "'\(name)' must be a mapping, got \(describe(node))")
        }
        path.append(name)
        defer { path.removeLast() }
        for (k, v) in map {
            guard let key = k.string, case .scalar = k else {
                throw error(at: k.mark, "keys in '\(name)' must be strings")
            }
            keyMarks[key] = k.mark
            let dotted = (path.dropFirst() + [key]).joined(separator: ".")
            marks[dotted] = k.mark
            try body(key, v)
        }
    }

    func string(_ node: Node, _ key: String) throws -> String {
        guard case .scalar(let s) = node else { throw error(at: node.mark, "'\(key)' must be a string, got \(describe(node))") }
        return s.string
    }

    /// A name handed to another program (a Slurm partition or account): no spaces or quotes.
    func word(_ node: Node, _ key: String) throws -> String {
        let s = try string(node, key)
        guard !s.isEmpty, s.allSatisfy({ $0.isLetter || $0.isNumber || "_-.,:@".contains($0) }) else {
            throw error(at: node.mark, "'\(key)' must be a plain name (letters, digits, _-.,:@), got \"\(s)\"")
        }
        return s
    }

    func bool(_ node: Node, _ key: String) throws -> Bool {
        guard case .scalar = node, let b = node.bool else {
            throw error(at: node.mark, "'\(key)' must be true or false, got \(describe(node))")
        }
        return b
    }

    func int(_ node: Node, _ key: String, min: Int = .min, max: Int = .max) throws -> Int {
        guard case .scalar(let s) = node, s.style == .plain, let i = node.int else {
            throw error(at: node.mark, "'\(key)' must be an integer, got \(describe(node))")
        }
        guard i >= min, i <= max else {
            throw error(at: node.mark, "'\(key)' must be \(range(min, max)), got \(i)")
        }
        return i
    }

    func double(_ node: Node, _ key: String, min: Double = -.infinity, max: Double = .infinity) throws -> Double {
        guard case .scalar(let s) = node, s.style == .plain, let d = node.float, d.isFinite else {
            throw error(at: node.mark, "'\(key)' must be a number, got \(describe(node))")
        }
        guard d >= min, d <= max else {
            throw error(at: node.mark, "'\(key)' must be \(range(min, max)), got \(d)")
        }
        return d
    }

    /// A number, or `none` / `null` / `~` for "no limit".
    func optionalDouble(_ node: Node, _ key: String, min: Double = -.infinity) throws -> Double? {
        if case .scalar(let s) = node, s.style == .plain, ["none", "null", "~", ""].contains(s.string) { return nil }
        return try double(node, key, min: min)
    }

    func list<T>(_ node: Node, _ key: String, _ element: (Node) throws -> T) throws -> [T] {
        guard case .sequence(let seq) = node else { throw error(at: node.mark, "'\(key)' must be a list, got \(describe(node))") }
        return try seq.map(element)
    }

    func choice<C: NamedChoice>(_ node: Node, _ key: String) throws -> C {
        guard case .scalar(let s) = node, let c = C(rawValue: s.string) else {
            throw error(at: node.mark, "'\(key)' must be one of \(C.choices), got \(describe(node))")
        }
        return c
    }

    private func range(_ lo: Int, _ hi: Int) -> String {
        hi == .max ? "at least \(lo)" : "between \(lo) and \(hi)"
    }
    private func range(_ lo: Double, _ hi: Double) -> String {
        hi == .infinity ? "at least \(lo)" : "between \(lo) and \(hi)"
    }

    private func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let s): return s.style == .plain ? "'\(s.string)'" : "the string \"\(s.string)\""
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }
}

/// A profile mapping's parameters, read by the one definition in `CoordinationSpec` and
/// `ResourceSharingPolicy`, with the loader's positioned errors.
private struct YAMLParameters: ParameterSource {
    let reader: Reader
    let nodes: [String: Node]
    let section: String
    let whole: Node

    func number(_ key: String, in range: ClosedRange<Double>) throws -> Double? {
        try nodes[key].map { try reader.double($0, key, min: range.lowerBound, max: range.upperBound) }
    }
    func flag(_ key: String) throws -> Bool? { try nodes[key].map { try reader.bool($0, key) } }
    func choice<C: NamedChoice>(_ key: String) throws -> C? { try nodes[key].map { try reader.choice($0, key) } }
    func names(_ key: String) throws -> [String]? { try nodes[key].map { n in try reader.list(n, key) { try reader.string($0, key) } } }
    func counts(_ key: String, in range: ClosedRange<Int>) throws -> [Int]? {
        try nodes[key].map { n in try reader.list(n, key) { try reader.int($0, key, min: range.lowerBound, max: range.upperBound) } }
    }
    func invalid(_ key: String, _ message: String) -> Error {
        reader.error(at: nodes[key]?.mark ?? whole.mark, "\(section): \(message)")
    }
}
