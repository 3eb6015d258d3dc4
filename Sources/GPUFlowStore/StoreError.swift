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
        }
    }
}
