/// What can go wrong with the run store, each naming the file or run.
public enum StoreError: Error, CustomStringConvertible, Sendable {
    case corrupt(path: String, detail: String)
    case locked(path: String)
    case unwritable(path: String, detail: String)
    case full(path: String)
    case unknownRun(String)
    case ambiguousRun(String, candidates: [String])
    case newerManifest(run: String, format: Int, version: String, supported: Int)
    case missingArtifact(String)
    case runDirectory(path: String, detail: String)
    case stillRunning(String)
    case unknownArtifact(run: String, name: String, names: [String])

    public var description: String {
        switch self {
        case .corrupt(let p, let d):
            return "run store \(p) is not a usable SQLite database (\(d)); move it aside and gpuflow starts a new one"
        case .locked(let p):
            return "run store \(p) is locked by another process (it did not free it in time); try again when it is done"
        case .unwritable(let p, let d):
            return "run store \(p) cannot be written (\(d))"
        case .full(let p):
            return "run store \(p): the disk is full; what was recorded before is kept"
        case .unknownRun(let r):
            return "no run '\(r)' in the store (gpuflow runs list shows them)"
        case .ambiguousRun(let r, let c):
            let shown = c.prefix(10).joined(separator: ", ") + (c.count > 10 ? " and \(c.count - 10) more" : "")
            return "run id prefix '\(r)' fits \(c.count) runs (\(shown)): give more of the id"
        case .newerManifest(let r, let f, let v, let s):
            return
                "run \(r) was recorded by gpuflow \(v) (manifest format \(f)); this gpuflow reads format \(s) and older: upgrade to replay it"
        case .missingArtifact(let h):
            return "artifact \(h) is missing from the store"
        case .runDirectory(let p, let d):
            return "run directory \(p): \(d)"
        case .stillRunning(let r):
            return "run \(r) is still running (its process is alive); stop it first"
        case .unknownArtifact(let r, let n, let names):
            return "run \(r) has no artifact '\(n)'"
                + (names.isEmpty ? " (it has none)" : " (it has: \(names.prefix(20).joined(separator: ", ")))")
        }
    }
}

/// Why a run ended badly, as the store keeps it: the error's first line, the script line it
/// points at (`train.lua:12`), and the Lua traceback.
public struct RunFailure: Sendable, Equatable {
    public var message: String
    public var location: String?
    public var traceback: String?
    public init(message: String, location: String? = nil, traceback: String? = nil) {
        self.message = message
        self.location = location
        self.traceback = traceback
    }
}
