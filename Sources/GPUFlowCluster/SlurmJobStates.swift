import Foundation

/// A Slurm job (or array element) as squeue, sacct or scontrol last described it.
public struct SlurmJobState: Sendable, Equatable {
    /// "123", or "123_4" for an element of a job array.
    public var id: String
    /// Slurm's state word: PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, OUT_OF_MEMORY…
    public var state: String
    public var elapsed: String?
    public var node: String?
    public var exitCode: String?
    public var tres: String?
    public var reason: String?
    public init(id: String, state: String) {
        self.id = id
        self.state = state
    }
}

/// Reads job states from Slurm: squeue for the jobs it still holds, then sacct for the rest,
/// or `scontrol show job` where accounting is not set up (it keeps a finished job for
/// MinJobAge seconds). What none of them can say is reported as unavailable, with why.
public struct SlurmJobStates {
    public let commands: SlurmCommands
    public init(commands: SlurmCommands) { self.commands = commands }

    public struct Reading: Sendable {
        public var states: [String: SlurmJobState] = [:]
        /// Which tools answered ("squeue", "sacct", "scontrol").
        public var sources: [String] = []
        /// Why some figures are missing (a tool absent or failing), shown with the status.
        public var problems: [String] = []
        public init() {}
    }

    /// `ids`: Slurm ids as the run store keeps them ("123", "123_4"); base ids are queried.
    public func read(_ ids: [String]) -> Reading {
        var r = Reading()
        let bases = Array(Set(ids.map { String($0.split(separator: "_").first ?? "") })).filter { !$0.isEmpty }.sorted()
        guard !bases.isEmpty else { return r }
        do {
            let out = try commands.run("squeue", ["-h", "-r", "-j", bases.joined(separator: ","), "-o", "%i|%T|%M|%N|%r|%b"])
            for s in Self.parseSqueue(out) { r.states[s.id] = s }
            r.sources.append("squeue")
        } catch {
            r.problems.append("\(error)")
        }
        let missing = ids.filter { r.states[$0] == nil }
        guard !missing.isEmpty else { return r }
        do {
            let out = try commands.run(
                "sacct",
                [
                    "-n", "-P", "-X", "-j", bases.joined(separator: ","),
                    "--format=JobID,State,Elapsed,NodeList,ExitCode,AllocTRES,Reason",
                ])
            for s in Self.parseSacct(out) where r.states[s.id] == nil || !Self.live(r.states[s.id]?.state ?? "") { r.states[s.id] = s }
            r.sources.append("sacct")
            return r
        } catch {
            r.problems.append("sacct unavailable (\(error)); finished jobs from scontrol show job")
        }
        var answered = false
        for b in bases where missing.contains(where: { $0 == b || $0.hasPrefix(b + "_") }) {
            guard let out = try? commands.run("scontrol", ["show", "job", "-o", b]) else { continue }
            answered = true
            for s in Self.parseScontrol(out) where r.states[s.id] == nil { r.states[s.id] = s }
        }
        if answered { r.sources.append("scontrol") }
        return r
    }

    static func live(_ state: String) -> Bool {
        ["PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED"].contains(state)
    }

    /// squeue -h -r -o "%i|%T|%M|%N|%r|%b"
    public static func parseSqueue(_ text: String) -> [SlurmJobState] {
        text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 5, !f[0].isEmpty else { return nil }
            var s = SlurmJobState(id: f[0], state: f[1])
            s.elapsed = f[2]
            s.node = f[3].isEmpty ? nil : f[3]
            s.reason = f[4] == "None" ? nil : f[4]
            return s
        }
    }

    /// sacct -n -P -X --format=JobID,State,Elapsed,NodeList,ExitCode,AllocTRES,Reason
    public static func parseSacct(_ text: String) -> [SlurmJobState] {
        text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 6, !f[0].isEmpty, !f[0].contains("[") else { return nil }
            // "CANCELLED by 0" → CANCELLED
            var s = SlurmJobState(id: f[0], state: String(f[1].split(separator: " ").first ?? ""))
            s.elapsed = f[2]
            s.node = f[3].isEmpty || f[3] == "None assigned" ? nil : f[3]
            s.exitCode = f[4]
            s.tres = f[5].isEmpty ? nil : f[5]
            if f.count > 6, f[6] != "None", !f[6].isEmpty { s.reason = f[6] }
            return s
        }
    }

    /// scontrol show job -o: one line of Key=Value words per job or array element; elements
    /// Slurm still keeps together (a pending or cancelled range, "1-4%2") get one state each.
    public static func parseScontrol(_ text: String) -> [SlurmJobState] {
        text.split(separator: "\n").flatMap { line -> [SlurmJobState] in
            var kv: [String: String] = [:]
            for word in line.split(separator: " ") {
                let parts = word.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2 else { continue }
                let k = String(parts[0])
                if kv[k] == nil { kv[k] = String(parts[1]) }
            }
            guard let id = kv["JobId"], let state = kv["JobState"] else { return [] }
            var names = [id]
            if let a = kv["ArrayJobId"], let t = kv["ArrayTaskId"] { names = expand(t).map { "\(a)_\($0)" } }
            return names.map { name in
                var s = SlurmJobState(id: name, state: state)
                s.elapsed = kv["RunTime"]
                s.node = kv["NodeList"].flatMap { $0 == "(null)" ? nil : $0 }
                s.exitCode = kv["ExitCode"]
                s.tres = kv["AllocTRES"] ?? kv["TRES"]
                s.reason = kv["Reason"].flatMap { $0 == "None" ? nil : $0 }
                if let g = kv["TresPerNode"], g.contains("gpu"), let t = s.tres, !t.contains("gpu") {
                    s.tres = t + "," + g.replacingOccurrences(of: "gres:", with: "gres/").replacingOccurrences(of: "gpu:", with: "gpu=")
                }
                return s
            }
        }
    }

    /// Array task ids as Slurm writes them: "3", "1-4", "1,3", "1-7:2", with an optional "%N".
    static func expand(_ spec: String) -> [Int] {
        let body = spec.split(separator: "%").first ?? ""
        var out: [Int] = []
        for part in body.split(separator: ",") {
            let stepParts = part.split(separator: ":")
            let step = stepParts.count > 1 ? max(Int(stepParts[1]) ?? 1, 1) : 1
            let range = (stepParts.first ?? "").split(separator: "-")
            guard let lo = range.first.flatMap({ Int($0) }) else { continue }
            let hi = range.count > 1 ? Int(range[1]) ?? lo : lo
            guard hi >= lo, hi - lo < 1_000_000 else { continue }
            out += Swift.stride(from: lo, through: hi, by: step)
        }
        return out
    }
}
