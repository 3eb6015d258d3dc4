import Foundation

/// Everything needed to run a workflow again exactly: what ran (script and modules, with their
/// hashes), how (profile, seed, arguments), where (backend, device, driver) and with what
/// (gpuflow version and build), and how it ended.
public struct Manifest: Codable, Sendable, Equatable {
    /// Bumped when the layout changes; a manifest from a newer gpuflow is refused by name.
    public static let currentFormat = 1

    public struct Module: Codable, Sendable, Equatable {
        public var name: String
        /// Absolute (or stdlib/… for gpuflow's own).
        public var path: String
        /// Relative to the first script's folder, where it lies inside it.
        public var relativePath: String?
        public var hash: String
        public init(name: String, path: String, hash: String) {
            self.name = name
            self.path = path
            self.hash = hash
        }
    }

    /// The learning history the run read at its start (warm starts, learned batch sizes, the
    /// adaptive backend choice and the orchestrator's estimates all answer from it), stored as
    /// artifacts; a replay starts from exactly this. nil: the run read an empty history.
    public struct History: Codable, Sendable, Equatable {
        public var entries: Int
        /// The index of the first entry among the history file's readable lines.
        public var firstIndex: Int
        /// Artifacts (kind "history") holding the entries' lines in order; cut into blocks of
        /// a power of two lines (at most `chunkLines`) aligned to their size in the file, so
        /// runs that read overlapping lines share most of their chunks.
        public var chunks: [String]
        /// SHA-256 of all the lines, each followed by a newline.
        public var hash: String
        public static let chunkLines = 1024
        public init(entries: Int, firstIndex: Int, chunks: [String], hash: String) {
            self.entries = entries
            self.firstIndex = firstIndex
            self.chunks = chunks
            self.hash = hash
        }
    }

    public var format = Manifest.currentFormat
    public var history: History?
    public var scripts: [Script]
    public var modules: [Module] = []
    /// The resolved profile as YAML (loads back unchanged).
    public var profile: String
    public var profilePath: String?
    public var seed: UInt64
    public var arguments: [String]
    public var backend: String
    public var backendReason: String
    public var device: String
    public var driver: String
    public var gpuflowVersion: String
    public var build: String
    public var host: String
    public var pid: Int32
    public var startedAt: Double
    public var endedAt: Double?
    public var exitStatus: Int32?

    public struct Script: Codable, Sendable, Equatable {
        public var path: String
        public var agent: String?
        public var text: String
        public var hash: String
        public init(path: String, agent: String?, text: String) {
            self.path = path
            self.agent = agent
            self.text = text
            hash = ContentHash.of(text)
        }
    }

    public init(
        scripts: [Script], profile: String, profilePath: String?, seed: UInt64, arguments: [String], backend: String,
        backendReason: String, device: String, driver: String, gpuflowVersion: String, build: String
    ) {
        self.scripts = scripts
        self.profile = profile
        self.profilePath = profilePath
        self.seed = seed
        self.arguments = arguments
        self.backend = backend
        self.backendReason = backendReason
        self.device = device
        self.driver = driver
        self.gpuflowVersion = gpuflowVersion
        self.build = build
        host = ProcessInfo.processInfo.hostName
        pid = getpid()
        startedAt = Date().timeIntervalSince1970
    }

    /// A path as a manifest records it: absolute (against the working directory), so a replay
    /// finds the same file from any directory.
    public static func absolutePath(_ path: String) -> String {
        path.hasPrefix("/")
            ? path
            : URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)).standardizedFileURL
                .path
    }

    public func json() throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted]
        return String(decoding: try e.encode(self), as: UTF8.self)
    }

    /// Decodes a stored manifest, refusing one written by a newer gpuflow with its version.
    public static func decode(_ json: String, run: String) throws -> Manifest {
        struct Head: Decodable { var format: Int; var gpuflowVersion: String? }
        let data = Data(json.utf8)
        let head = try JSONDecoder().decode(Head.self, from: data)
        guard head.format <= currentFormat else {
            throw StoreError.newerManifest(run: run, format: head.format, version: head.gpuflowVersion ?? "?", supported: currentFormat)
        }
        return try JSONDecoder().decode(Manifest.self, from: data)
    }
}
