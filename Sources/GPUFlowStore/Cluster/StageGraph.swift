import Foundation

/// One stage of a workflow as `gpuflow run --plan` finds it: its name, where the script
/// declares it, the stages whose results it takes (data inputs) or must follow (`after`), and
/// what its Slurm job asks for. A sweep is one stage with `count` elements.
public struct StageSpec: Codable, Sendable, Equatable {
    public var name: String
    /// "script.lua:12", for messages.
    public var location: String
    public var dependencies: [String]
    public var after: [String]
    public var gpus: Int?
    public var memoryMB: Int?
    public var cpus: Int?
    /// Slurm's time limit as the script gave it (minutes, HH:MM:SS, D-HH:MM:SS).
    public var time: String?
    /// Elements of a sweep (a job array), nil for a plain stage.
    public var count: Int?
    /// How many elements of a sweep may run at once (the array's `%` throttle).
    public var throttle: Int?

    public init(
        name: String, location: String, dependencies: [String] = [], after: [String] = [], gpus: Int? = nil, memoryMB: Int? = nil,
        cpus: Int? = nil, time: String? = nil, count: Int? = nil, throttle: Int? = nil
    ) {
        self.name = name
        self.location = location
        self.dependencies = dependencies
        self.after = after
        self.gpus = gpus
        self.memoryMB = memoryMB
        self.cpus = cpus
        self.time = time
        self.count = count
        self.throttle = throttle
    }

    /// Every stage this one waits for.
    public var prerequisites: [String] {
        var seen = Set<String>()
        return (dependencies + after).filter { seen.insert($0).inserted }
    }

    /// Names of the results it produces: the stage, or each element of a sweep ("tune[3]").
    public var elementNames: [String] {
        guard let n = count, n > 0 else { return [name] }
        return (1...n).map { "\(name)[\($0)]" }
    }

    /// Stage names become file names and Slurm job names.
    public static func validName(_ s: String) -> Bool {
        !s.isEmpty && s.count <= 64 && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == ".") }
            && !s.hasPrefix(".")
    }
}

public struct StageGraphError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The stages of one workflow, in the order the script declares them, checked: names unique
/// and valid, every prerequisite declared, no cycle.
public struct StageGraph: Codable, Sendable, Equatable {
    public var stages: [StageSpec]

    public init(stages: [StageSpec]) throws {
        self.stages = stages
        try validate()
    }

    public subscript(name: String) -> StageSpec? { stages.first { $0.name == name } }

    private func validate() throws {
        var seen: [String: String] = [:]
        for s in stages {
            guard StageSpec.validName(s.name) else {
                throw StageGraphError(
                    "\(s.location): stage name \"\(s.name)\" must be 1 to 64 letters, digits, _ - or . (it names files and Slurm jobs)")
            }
            if let first = seen[s.name] { throw StageGraphError("\(s.location): stage '\(s.name)' is declared twice (first at \(first))") }
            seen[s.name] = s.location
            if let n = s.count, n < 1 { throw StageGraphError("\(s.location): sweep '\(s.name)' has no values") }
        }
        for s in stages {
            for p in s.prerequisites where seen[p] == nil {
                throw StageGraphError(
                    "\(s.location): stage '\(s.name)' comes after '\(p)', which the script never declares (stages: \(stages.map(\.name).joined(separator: ", ")))"
                )
            }
            if s.prerequisites.contains(s.name) { throw StageGraphError("\(s.location): stage '\(s.name)' waits for itself") }
        }
        if let cycle = findCycle() {
            let at = self[cycle[0]]?.location ?? "?"
            throw StageGraphError(
                "\(at): stage cycle: \(cycle.joined(separator: " → ")) (each waits for the next); Slurm could never start any of them")
        }
    }

    /// A cycle as a path of "waits for" that starts and ends at the same stage, or nil.
    private func findCycle() -> [String]? {
        enum Mark { case visiting, done }
        var marks: [String: Mark] = [:]
        var path: [String] = []
        func visit(_ n: String) -> [String]? {
            if marks[n] == .done { return nil }
            if marks[n] == .visiting, let i = path.firstIndex(of: n) { return Array(path[i...]) + [n] }
            marks[n] = .visiting
            path.append(n)
            for p in self[n]?.prerequisites ?? [] {
                if let c = visit(p) { return c }
            }
            path.removeLast()
            marks[n] = .done
            return nil
        }
        for s in stages {
            if let c = visit(s.name) { return c }
        }
        return nil
    }

    /// Stages so that each comes after everything it waits for (declaration order otherwise).
    public var topologicalOrder: [StageSpec] {
        var done = Set<String>()
        var out: [StageSpec] = []
        var remaining = stages
        while !remaining.isEmpty {
            guard let i = remaining.firstIndex(where: { $0.prerequisites.allSatisfy(done.contains) }) else { break }
            let s = remaining.remove(at: i)
            done.insert(s.name)
            out.append(s)
        }
        return out
    }

    /// Every stage that waits, directly or not, for `name`.
    public func dependants(of name: String) -> [String] {
        var found: [String] = []
        var frontier = [name]
        while let n = frontier.popLast() {
            for s in stages where s.prerequisites.contains(n) && !found.contains(s.name) {
                found.append(s.name)
                frontier.append(s.name)
            }
        }
        return stages.map(\.name).filter(found.contains)
    }
}
