import Foundation

/// Slurm's time limits ("minutes", "MM:SS", "HH:MM:SS", "D-HH", "D-HH:MM", "D-HH:MM:SS"),
/// read so that a profile or a stage with a malformed one is refused before anything is
/// submitted, and rendered in the one form every Slurm version accepts.
public enum SlurmTime {
    /// The limit in whole minutes (seconds round up, as Slurm does); nil when malformed.
    public static func minutes(_ text: String) -> Int? {
        let t = text.trimmingCharacters(in: .whitespaces)
        guard !t.isEmpty, t.allSatisfy({ $0.isNumber || $0 == ":" || $0 == "-" }) else { return nil }
        var days = 0
        var rest = Substring(t)
        if let dash = t.firstIndex(of: "-") {
            guard let d = Int(t[..<dash]) else { return nil }
            days = d
            rest = t[t.index(after: dash)...]
            let parts = rest.split(separator: ":", omittingEmptySubsequences: false).map { Int($0) }
            guard (1...3).contains(parts.count), parts.allSatisfy({ $0 != nil }) else { return nil }
            let p = parts.map { $0 ?? 0 }
            let h = p[0], m = p.count > 1 ? p[1] : 0, s = p.count > 2 ? p[2] : 0
            return days * 1440 + h * 60 + m + (s > 0 ? 1 : 0)
        }
        let parts = rest.split(separator: ":", omittingEmptySubsequences: false).map { Int($0) }
        guard (1...3).contains(parts.count), parts.allSatisfy({ $0 != nil }) else { return nil }
        let p = parts.map { $0 ?? 0 }
        switch p.count {
        case 1: return p[0]
        case 2: return p[0] + (p[1] > 0 ? 1 : 0)
        default: return p[0] * 60 + p[1] + (p[2] > 0 ? 1 : 0)
        }
    }

    /// "D-HH:MM:SS" for sbatch.
    public static func render(minutes: Int) -> String {
        let d = minutes / 1440, h = (minutes % 1440) / 60, m = minutes % 60
        return d > 0 ? "\(d)-" + two(h) + ":" + two(m) + ":00" : two(h) + ":" + two(m) + ":00"
    }

    private static func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
}
