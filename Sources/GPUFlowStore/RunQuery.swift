import Foundation

/// `gpuflow runs list --filter 'metrics.accuracy > 0.9 and params.lr = 0.01' --sort=-metrics.accuracy`:
/// a conjunction of comparisons on a run's logged metrics (their last values), params, tags and
/// attributes, in MLflow's search syntax. A value compares as a number when both sides are
/// numbers, else as text; a run without the key does not match.
public struct RunFilter: Sendable {
    public enum Op: String, Sendable, CaseIterable {
        case eq = "=", ne = "!=", le = "<=", ge = ">=", lt = "<", gt = ">"
    }
    public struct Clause: Sendable {
        public let field: RunField
        public let op: Op
        public let value: String
    }
    public let clauses: [Clause]

    public init(_ text: String) throws {
        var clauses: [Clause] = []
        var s = Scanner(text)
        while true {
            s.skipSpaces()
            guard !s.atEnd else { throw RunQueryError.filter(text, at: s.offset, "expected a comparison such as metrics.accuracy > 0.9") }
            let start = s.offset
            let name = s.word()
            guard let field = RunField(name) else {
                throw RunQueryError.filter(
                    text, at: start,
                    "'\(name)' is not metrics.KEY, params.KEY, tags.KEY or an attribute (\(RunField.attributes.joined(separator: ", ")))")
            }
            s.skipSpaces()
            let opAt = s.offset
            guard let op = s.op() else { throw RunQueryError.filter(text, at: opAt, "expected one of = != < <= > >= after \(name)") }
            s.skipSpaces()
            let valueAt = s.offset
            guard let value = try s.value() else { throw RunQueryError.filter(text, at: valueAt, "expected a value after \(op.rawValue)") }
            clauses.append(Clause(field: field, op: op, value: value))
            s.skipSpaces()
            if s.atEnd { break }
            let andAt = s.offset
            guard s.word().lowercased() == "and" else { throw RunQueryError.filter(text, at: andAt, "expected 'and' between comparisons") }
        }
        self.clauses = clauses
    }

    public func matches(_ run: RunStore.TrackedRun) -> Bool {
        clauses.allSatisfy { c in
            guard let have = c.field.value(of: run) else { return false }
            let order: ComparisonResult
            if let a = Double(have), let b = Double(c.value) {
                order = a < b ? .orderedAscending : a > b ? .orderedDescending : .orderedSame
            } else {
                order = have < c.value ? .orderedAscending : have > c.value ? .orderedDescending : .orderedSame
            }
            switch c.op {
            case .eq: return order == .orderedSame
            case .ne: return order != .orderedSame
            case .lt: return order == .orderedAscending
            case .le: return order != .orderedDescending
            case .gt: return order == .orderedDescending
            case .ge: return order != .orderedAscending
            }
        }
    }

    private struct Scanner {
        let chars: [Character]
        var offset = 0
        init(_ text: String) { chars = Array(text) }
        var atEnd: Bool { offset >= chars.count }
        mutating func skipSpaces() { while !atEnd, chars[offset].isWhitespace { offset += 1 } }
        /// A name: letters, digits and _ . - / :, or a key in backquotes (metrics.`val loss`).
        mutating func word() -> String {
            var out = ""
            while !atEnd {
                let c = chars[offset]
                if c == "`" {
                    offset += 1
                    while !atEnd, chars[offset] != "`" {
                        out.append(chars[offset])
                        offset += 1
                    }
                    offset += 1
                } else if c.isLetter || c.isNumber || "_.-/:".contains(c) {
                    out.append(c)
                    offset += 1
                } else {
                    break
                }
            }
            return out
        }
        mutating func op() -> Op? {
            for op in [Op.ne, .le, .ge, .eq, .lt, .gt] {
                let text = Array(op.rawValue)
                if offset + text.count <= chars.count, Array(chars[offset..<offset + text.count]) == text {
                    offset += text.count
                    if op == .eq, !atEnd, chars[offset] == "=" { offset += 1 }  // == as =
                    return op
                }
            }
            return nil
        }
        mutating func value() throws -> String? {
            guard !atEnd else { return nil }
            let q = chars[offset]
            if q == "'" || q == "\"" {
                let start = offset
                offset += 1
                var out = ""
                while !atEnd, chars[offset] != q {
                    out.append(chars[offset])
                    offset += 1
                }
                guard !atEnd else { throw RunQueryError.filter(String(chars), at: start, "a quoted value is not closed") }
                offset += 1
                return out
            }
            let w = word()
            return w.isEmpty ? nil : w
        }
    }
}

/// What a column, a filter or a sort names: `metrics.KEY` (the last logged value),
/// `params.KEY`, `tags.KEY`, or an attribute of the run.
public enum RunField: Sendable, Equatable {
    case metric(String), param(String), tag(String), attribute(String)

    public static let attributes = ["id", "name", "experiment", "status", "backend", "script", "started_at", "duration_s", "exit_code"]

    public init?(_ text: String) {
        let parts = text.split(separator: ".", maxSplits: 1).map(String.init)
        if parts.count == 2, !parts[1].isEmpty {
            switch parts[0] {
            case "metrics", "metric": self = .metric(parts[1])
            case "params", "param": self = .param(parts[1])
            case "tags", "tag": self = .tag(parts[1])
            case "attributes", "attribute",
                "attr" where Self.attributes.contains(parts[1]):
                self = .attribute(parts[1])
            default: return nil
            }
        } else if Self.attributes.contains(text) {
            self = .attribute(text)
        } else {
            return nil
        }
    }

    public var label: String {
        switch self {
        case .metric(let k): return "metrics.\(k)"
        case .param(let k): return "params.\(k)"
        case .tag(let k): return "tags.\(k)"
        case .attribute(let k): return k
        }
    }

    /// The field's value in a run, as text (numbers as Swift prints them), or nil.
    public func value(of run: RunStore.TrackedRun) -> String? {
        switch self {
        case .metric(let k): return run.metrics[k].map { Self.number($0.last) }
        case .param(let k): return run.params[k]
        case .tag(let k): return run.tags[k]
        case .attribute(let a):
            let s = run.summary
            switch a {
            case "id": return s.id
            case "name": return run.name
            case "experiment": return run.experiment
            case "status": return s.status
            case "backend": return s.backend
            case "script": return s.script
            case "started_at": return Self.number(s.startedAt)
            case "duration_s": return s.endedAt.map { Self.number($0 - s.startedAt) }
            case "exit_code": return s.exitCode.map(String.init)
            default: return nil
            }
        }
    }

    static func number(_ d: Double) -> String {
        d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d)
    }
}

/// `--sort FIELD` (ascending) or `--sort=-FIELD` / `--sort "FIELD desc"` (descending); runs without
/// the field last.
public struct RunSort: Sendable {
    public let field: RunField
    public let descending: Bool

    public init(_ text: String) throws {
        var t = text.trimmingCharacters(in: .whitespaces)
        var descending = false
        if t.hasPrefix("-") {
            descending = true
            t.removeFirst()
        } else if t.lowercased().hasSuffix(" desc") {
            descending = true
            t = String(t.dropLast(5)).trimmingCharacters(in: .whitespaces)
        } else if t.lowercased().hasSuffix(" asc") {
            t = String(t.dropLast(4)).trimmingCharacters(in: .whitespaces)
        }
        guard let f = RunField(t) else {
            throw RunQueryError.sort(
                text,
                "expected metrics.KEY, params.KEY, tags.KEY or an attribute (\(RunField.attributes.joined(separator: ", "))), with - or ' desc' for descending"
            )
        }
        field = f
        self.descending = descending
    }

    public func sorted(_ runs: [RunStore.TrackedRun]) -> [RunStore.TrackedRun] {
        let keyed = runs.enumerated().map { (i, r) in (i, r, field.value(of: r)) }
        return keyed.sorted { a, b in
            switch (a.2, b.2) {
            case (nil, nil): return a.0 < b.0
            case (nil, _): return false
            case (_, nil): return true
            case (let x?, let y?):
                if x == y { return a.0 < b.0 }
                let less: Bool
                if let dx = Double(x), let dy = Double(y) { less = dx < dy } else { less = x < y }
                return descending ? !less : less
            }
        }.map(\.1)
    }
}

public enum RunQueryError: Error, CustomStringConvertible, Sendable {
    case filter(String, at: Int, String)
    case sort(String, String)
    case column(String)

    public var description: String {
        switch self {
        case .filter(let text, let at, let why): return "--filter '\(text)': at character \(at + 1): \(why)"
        case .sort(let text, let why): return "--sort '\(text)': \(why)"
        case .column(let text):
            return
                "--columns: '\(text)' is not metrics.KEY, params.KEY, tags.KEY or an attribute (\(RunField.attributes.joined(separator: ", ")))"
        }
    }
}
