public enum PartitionStrategy: String, NamedChoice { case `static`, dynamic, adaptive, hierarchical }
public enum NegotiationRule: String, NamedChoice { case auction, consensus, voting, market }
public enum ConflictRule: String, NamedChoice { case priority, fairness, performance, random }

/// A coordination pattern with its parameters. This is the one definition of each parameter —
/// its name, default and range — read by the profile loader, the Lua constructors
/// (`gpu.time_sliced{...}`), the task runner and the job server, so that a default or a range
/// cannot differ between them.
public enum CoordinationSpec: Codable, Sendable, Equatable {
    case exclusive
    case timeSliced(TimeSlicing)
    case spacePartitioned(Partitions)
    case pipeline(PipelineStages)
    case collaborative(NegotiationRules)

    public struct TimeSlicing: Codable, Sendable, Equatable {
        public static let sliceRangeMS: ClosedRange<Double> = 0.1...3_600_000
        public var sliceMS: Double = 50
        /// A slice ends when its time is spent and someone waits; without it, when the agent's tasks end.
        public var preemptionAllowed = true
        public init(sliceMS: Double = 50, preemptionAllowed: Bool = true) {
            self.sliceMS = sliceMS
            self.preemptionAllowed = preemptionAllowed
        }
    }

    public struct Partitions: Codable, Sendable, Equatable {
        public var strategy: PartitionStrategy = .static
        /// Borrowing what other agents leave unused; nil: only under the dynamic strategy.
        public var dynamicRebalancing: Bool?
        public init(strategy: PartitionStrategy = .static, dynamicRebalancing: Bool? = nil) {
            self.strategy = strategy
            self.dynamicRebalancing = dynamicRebalancing
        }
        public var rebalances: Bool { dynamicRebalancing ?? (strategy == .dynamic) }
    }

    public struct PipelineStages: Codable, Sendable, Equatable {
        public static let defaultBuffer = 4
        public static let bufferRange: ClosedRange<Int> = 1...1_000_000
        /// The agents of each stage, in order.
        public var stages: [String]
        /// The capacity of each link between neighbouring stages.
        public var bufferSizes: [Int]
        public init(stages: [String], bufferSizes: [Int]? = nil) {
            self.stages = stages
            self.bufferSizes = bufferSizes ?? Array(repeating: Self.defaultBuffer, count: max(stages.count - 1, 0))
        }
        /// The links' names ("a->b") and capacities, as scripts see them.
        public var links: [(name: String, capacity: Int)] {
            zip(stages.indices.dropLast(), bufferSizes).map { k, size in ("\(stages[k])->\(stages[k + 1])", size) }
        }
    }

    public struct NegotiationRules: Codable, Sendable, Equatable {
        public var negotiation: NegotiationRule = .consensus
        public var conflictResolution: ConflictRule = .fairness
        public init(negotiation: NegotiationRule = .consensus, conflictResolution: ConflictRule = .fairness) {
            self.negotiation = negotiation
            self.conflictResolution = conflictResolution
        }
    }

    public var pattern: CoordinationPattern {
        switch self {
        case .exclusive: return .exclusive
        case .timeSliced: return .time_sliced
        case .spacePartitioned: return .space_partitioned
        case .pipeline: return .pipeline
        case .collaborative: return .collaborative
        }
    }

    /// The pattern with every parameter at its default (a pipeline has no default stages).
    public static func defaults(_ pattern: CoordinationPattern) -> CoordinationSpec {
        switch pattern {
        case .exclusive: return .exclusive
        case .time_sliced: return .timeSliced(.init())
        case .space_partitioned: return .spacePartitioned(.init())
        case .pipeline: return .pipeline(.init(stages: []))
        case .collaborative: return .collaborative(.init())
        }
    }

    /// Each pattern's parameter names, as profiles and scripts spell them.
    public static func parameterNames(_ pattern: CoordinationPattern) -> [String] {
        switch pattern {
        case .exclusive: return []
        case .time_sliced: return ["time_slice_ms", "preemption_allowed"]
        case .space_partitioned: return ["partition_strategy", "dynamic_rebalancing"]
        case .pipeline: return ["stages", "buffer_sizes"]
        case .collaborative: return ["negotiation", "conflict_resolution"]
        }
    }

    /// Every pattern's parameter names together.
    public static let allParameterNames = CoordinationPattern.allCases.flatMap(parameterNames)

    /// Reads `pattern`'s parameters from a profile's mapping or a Lua table; the source raises
    /// its own positioned error for a value of the wrong type or out of range.
    public static func read(_ pattern: CoordinationPattern, from p: some ParameterSource) throws -> CoordinationSpec {
        let spec: CoordinationSpec
        switch pattern {
        case .exclusive:
            spec = .exclusive
        case .time_sliced:
            var t = TimeSlicing()
            if let ms = try p.number("time_slice_ms", in: TimeSlicing.sliceRangeMS) { t.sliceMS = ms }
            if let b = try p.flag("preemption_allowed") { t.preemptionAllowed = b }
            spec = .timeSliced(t)
        case .space_partitioned:
            var s = Partitions()
            if let k: PartitionStrategy = try p.choice("partition_strategy") { s.strategy = k }
            s.dynamicRebalancing = try p.flag("dynamic_rebalancing")
            spec = .spacePartitioned(s)
        case .pipeline:
            let stages = try p.names("stages") ?? []
            spec = .pipeline(PipelineStages(stages: stages, bufferSizes: try p.counts("buffer_sizes", in: PipelineStages.bufferRange)))
        case .collaborative:
            var n = NegotiationRules()
            if let r: NegotiationRule = try p.choice("negotiation") { n.negotiation = r }
            if let r: ConflictRule = try p.choice("conflict_resolution") { n.conflictResolution = r }
            spec = .collaborative(n)
        }
        if let problem = spec.problem { throw p.invalid(problem.parameter, problem.message) }
        return spec
    }

    /// The first rule between parameters the spec breaks (each value's own range is the
    /// reader's), with the parameter to blame.
    public var problem: (parameter: String, message: String)? {
        switch self {
        case .timeSliced(let t) where !TimeSlicing.sliceRangeMS.contains(t.sliceMS):
            return ("time_slice_ms", "time_slice_ms must be between 0.1 and 3600000, got \(t.sliceMS)")
        case .pipeline(let p):
            if p.stages.count < 2 { return ("stages", "the pipeline pattern needs stages: at least two agents, in order") }
            if Set(p.stages).count != p.stages.count { return ("stages", "pipeline stages must be distinct agents") }
            if p.bufferSizes.count != p.stages.count - 1 {
                return (
                    "buffer_sizes",
                    "buffer_sizes needs one size per link between stages (\(p.stages.count - 1)), got \(p.bufferSizes.count)"
                )
            }
            if let b = p.bufferSizes.first(where: { !PipelineStages.bufferRange.contains($0) }) {
                return ("buffer_sizes", "each buffer size must be between 1 and 1000000, got \(b)")
            }
        default: break
        }
        return nil
    }

    /// Throws `CoordinationError` naming the parameter that is wrong.
    public func validate() throws {
        if let p = problem { throw CoordinationError(parameter: p.parameter, message: p.message) }
    }

    /// The parameters as (name, value) pairs for records and `gpu.coordinate`'s result.
    public var parameters: [(String, TaskValue)] {
        switch self {
        case .exclusive: return []
        case .timeSliced(let t): return [("time_slice_ms", .number(t.sliceMS)), ("preemption_allowed", .bool(t.preemptionAllowed))]
        case .spacePartitioned(let s):
            return [("partition_strategy", .string(s.strategy.rawValue)), ("dynamic_rebalancing", .bool(s.rebalances))]
        case .pipeline(let p):
            return [
                ("stages", .array(p.stages.map { .string($0) })),
                ("links", .array(p.links.map { .table([("name", .string($0.name)), ("capacity", .integer($0.capacity))]) })),
            ]
        case .collaborative(let n):
            return [("negotiation", .string(n.negotiation.rawValue)), ("conflict_resolution", .string(n.conflictResolution.rawValue))]
        }
    }
}

/// A coordination parameter that breaks a rule, by name.
public struct CoordinationError: Error, Sendable, CustomStringConvertible {
    public let parameter: String
    public let message: String
    public var description: String { message }
}

/// A table of named parameters as a profile's YAML mapping or a Lua table holds them. Each
/// reader raises its own positioned error (file and line, or the Lua function) for a value of
/// the wrong type or outside its range; nil: the key is absent.
public protocol ParameterSource {
    func number(_ key: String, in range: ClosedRange<Double>) throws -> Double?
    func flag(_ key: String) throws -> Bool?
    func choice<C: NamedChoice>(_ key: String) throws -> C?
    func names(_ key: String) throws -> [String]?
    func counts(_ key: String, in range: ClosedRange<Int>) throws -> [Int]?
    /// The error for a rule between parameters that `key` breaks.
    func invalid(_ key: String, _ message: String) -> Error
}
