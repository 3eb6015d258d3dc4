import Foundation
import GPUFlowCore

/// A cluster run's folder, shared by the submitting host and every node (it must be on a
/// shared filesystem): the plan, the profile, the batch scripts, each stage's status and
/// result, artifacts by hash, logs, and one small run store per stage. Each file has one
/// writer and is written whole under a temporary name and renamed, so a reader on another
/// node never sees half of one — which SQLite over NFS could not promise.
public struct RunDirectory: Sendable, ArtifactStore {
    public let path: String

    public init(path: String) { self.path = path }

    /// RUN_DIR/RUN_ID, created, and proven writable by writing a file into it.
    public static func create(base: String, run: String) throws -> RunDirectory {
        let dir = RunDirectory(path: (base as NSString).standardizingPath + "/" + run)
        let fm = FileManager.default
        do {
            for sub in ["", "/jobs", "/logs", "/stages", "/artifacts", "/store"] {
                try fm.createDirectory(atPath: dir.path + sub, withIntermediateDirectories: true)
            }
            try Data("ok\n".utf8).write(to: URL(fileURLWithPath: dir.path + "/.writable"), options: .atomic)
        } catch {
            throw StoreError.runDirectory(
                path: dir.path, detail: "it must be writable, and shared by every node: \(error.localizedDescription)")
        }
        return dir
    }

    /// Whether `base` could hold a run directory, without creating one (for --dry-run).
    public static func checkWritable(base: String) throws {
        let fm = FileManager.default
        var probe = (base as NSString).standardizingPath
        while !fm.fileExists(atPath: probe), probe != "/" { probe = (probe as NSString).deletingLastPathComponent }
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: probe, isDirectory: &isDirectory), isDirectory.boolValue, fm.isWritableFile(atPath: probe) else {
            throw StoreError.runDirectory(path: base, detail: "it must be a writable directory, and \(probe) is not one")
        }
    }

    public var exists: Bool { FileManager.default.fileExists(atPath: path + "/plan.json") }
    public var planPath: String { path + "/plan.json" }
    public var profilePath: String { path + "/profile.yaml" }
    public func batchScriptPath(_ job: String) -> String { path + "/jobs/\(job).sbatch" }
    public var logDirectory: String { path + "/logs" }
    public func storePath(_ element: String) -> String { path + "/store/\(element).sqlite" }
    private func resultPath(_ element: String) -> String { path + "/stages/\(element).json" }
    private func statusPath(_ element: String) -> String { path + "/stages/\(element).status.json" }

    public func write(_ text: String, to file: String) throws { try write(Data(text.utf8), to: file) }

    public func write(_ data: Data, to file: String) throws {
        do { try data.write(to: URL(fileURLWithPath: file), options: .atomic) } catch {
            throw StoreError.runDirectory(path: file, detail: error.localizedDescription)
        }
    }

    // MARK: Stage results and statuses

    /// A finished stage's (or sweep element's) result, as StageCodec JSON.
    public func result(_ element: String) -> String? {
        FileManager.default.contents(atPath: resultPath(element)).map { String(decoding: $0, as: UTF8.self) }
    }

    public func putResult(_ element: String, json: String) throws { try write(json, to: resultPath(element)) }

    public struct StageStatus: Codable, Sendable, Equatable {
        /// running, succeeded or failed: what the stage's own process said last.
        public var state: String
        public var host: String
        public var job: String?
        public var startedAt: Double
        public var endedAt: Double?
        public var exitCode: Int32?
        public var error: String?
        public init(state: String, host: String, job: String?, startedAt: Double) {
            self.state = state
            self.host = host
            self.job = job
            self.startedAt = startedAt
        }
    }

    public func status(_ element: String) -> StageStatus? {
        guard let d = FileManager.default.contents(atPath: statusPath(element)) else { return nil }
        return try? JSONDecoder().decode(StageStatus.self, from: d)
    }

    public func putStatus(_ element: String, _ s: StageStatus) throws {
        try write(String(decoding: try StableJSON.encode(s), as: UTF8.self), to: statusPath(element))
    }

    // MARK: Artifacts (ArtifactStore)

    public func putArtifact(_ data: Data, kind: String) throws -> String {
        let hash = ContentHash.of(data)
        let file = path + "/artifacts/" + hash
        if !FileManager.default.fileExists(atPath: file) { try write(data, to: file) }
        return hash
    }

    public func artifact(_ hash: String) throws -> Data {
        guard hash.allSatisfy(\.isHexDigit), let d = FileManager.default.contents(atPath: path + "/artifacts/" + hash) else {
            throw StoreError.runDirectory(path: path + "/artifacts/" + hash, detail: "the artifact is missing")
        }
        guard ContentHash.of(d) == hash else {
            throw StoreError.runDirectory(path: path + "/artifacts/" + hash, detail: "its content does not match its hash")
        }
        return d
    }
}
