import Foundation

/// The learning engine's memory between runs: an append-only JSON Lines file, one execution,
/// judgement or optimization trial per line. Appends of one short line are atomic on POSIX
/// (O_APPEND), so several gpuflow processes can share the file; a torn or foreign line is
/// skipped and counted, never fatal.
public final class ExecutionHistoryStore: @unchecked Sendable {
    /// One line: {"execution": {...}}, {"feedback": {...}} or {"trial": {...}}.
    public enum Entry: Codable, Sendable, Equatable {
        case execution(ExecutionRecord)
        case feedback(FeedbackRecord)
        case trial(TrialRecord)

        private enum Key: String, CodingKey { case execution, feedback, trial }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: Key.self)
            if let e = try c.decodeIfPresent(ExecutionRecord.self, forKey: .execution) {
                self = .execution(e)
            } else if let f = try c.decodeIfPresent(FeedbackRecord.self, forKey: .feedback) {
                self = .feedback(f)
            } else {
                self = .trial(try c.decode(TrialRecord.self, forKey: .trial))
            }
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: Key.self)
            switch self {
            case .execution(let e): try c.encode(e, forKey: .execution)
            case .feedback(let f): try c.encode(f, forKey: .feedback)
            case .trial(let t): try c.encode(t, forKey: .trial)
            }
        }
    }

    public let path: String
    private let lock = NSLock()

    public init(path: String) { self.path = path }

    /// `$GPUFLOW_DATA_DIR`, else `$XDG_DATA_HOME/gpuflow`, else `~/.local/share/gpuflow`.
    public static func defaultDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let d = environment["GPUFLOW_DATA_DIR"], !d.isEmpty { return d }
        if let x = environment["XDG_DATA_HOME"], !x.isEmpty { return x + "/gpuflow" }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return home + "/.local/share/gpuflow"
    }

    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        defaultDirectory(environment: environment) + "/history.jsonl"
    }

    /// Every readable entry, oldest first (at most the newest `limit`), and how many lines were
    /// skipped as unreadable. A missing file is an empty history.
    public func load(limit: Int = 50_000) -> (entries: [Entry], skipped: Int) {
        let s = snapshot(limit: limit)
        return (s.entries, s.skipped)
    }

    /// What a run read: the entries with their lines as written, and the index of the first
    /// among all readable lines (so a run's record can be cut into chunks at fixed places and
    /// runs that read the same lines share them).
    public struct Snapshot: Sendable {
        public var entries: [Entry] = []
        public var lines: [Data] = []
        public var firstIndex = 0
        public var skipped = 0
        public init() {}
    }

    public func snapshot(limit: Int = 50_000) -> Snapshot {
        lock.lock()
        defer { lock.unlock() }
        guard let data = FileManager.default.contents(atPath: path) else { return Snapshot() }
        var s = Self.decode(data)
        if s.entries.count > limit {
            let drop = s.entries.count - limit
            s.entries.removeFirst(drop)
            s.lines.removeFirst(drop)
            s.firstIndex = drop
        }
        return s
    }

    /// Reads JSON Lines: a torn or foreign line is counted and skipped.
    public static func decode(_ data: Data) -> Snapshot {
        var s = Snapshot()
        let decoder = JSONDecoder()
        for line in data.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
            let bytes = Data(line)
            if let e = try? decoder.decode(Entry.self, from: bytes) {
                s.entries.append(e)
                s.lines.append(bytes)
            } else {
                s.skipped += 1
            }
        }
        return s
    }

    /// Appends entries; throws with the path when the directory or file cannot be written.
    public func append(_ entries: [Entry]) throws {
        guard !entries.isEmpty else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var blob = Data()
        for e in entries {
            blob.append(try encoder.encode(e))
            blob.append(UInt8(ascii: "\n"))
        }
        lock.lock()
        defer { lock.unlock() }
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty {
            do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
                throw HistoryError(path: path, reason: "cannot create its directory (\(error.localizedDescription))")
            }
        }
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        guard fd >= 0 else { throw HistoryError(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        let written = blob.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == blob.count else { throw HistoryError(path: path, reason: "short write (\(written) of \(blob.count) bytes)") }
    }
}

public struct HistoryError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let reason: String
    public var description: String { "learning history \(path): \(reason)" }
}
