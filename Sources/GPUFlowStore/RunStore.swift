import Foundation
import GPUFlowCore
import GRDB

/// Runs, tasks, parameters, metrics, events, artifacts and cached stages in one SQLite file
/// (GRDB, WAL: several gpuflow processes write safely, and a crash leaves the database
/// consistent). Artifacts are files named by their SHA-256 beside the database, written to a
/// temporary name and renamed, so a crash never leaves half a model under a hash.
public final class RunStore: @unchecked Sendable {
    public let path: String
    public let artifactDirectory: String
    let db: DatabasePool

    /// `$GPUFLOW_DATA_DIR/runs.sqlite` (or the XDG / ~/.local/share equivalent).
    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        dataDirectory(environment) + "/runs.sqlite"
    }

    /// `$GPUFLOW_DATA_DIR/server.sqlite`: the job server's own store, apart from the runs of
    /// `gpuflow run`, so a server job can never reach (report, resume) an operator's run.
    public static func defaultServerPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        dataDirectory(environment) + "/server.sqlite"
    }

    private static func dataDirectory(_ environment: [String: String]) -> String {
        if let d = environment["GPUFLOW_DATA_DIR"], !d.isEmpty { return d }
        if let x = environment["XDG_DATA_HOME"], !x.isEmpty { return x + "/gpuflow" }
        return (environment["HOME"] ?? NSHomeDirectory()) + "/.local/share/gpuflow"
    }

    /// `busyTimeout`: how long a write waits for another process's write before giving up.
    public init(path: String, busyTimeout: Double = 5) throws {
        self.path = path
        artifactDirectory = (path as NSString).deletingLastPathComponent + "/artifacts"
        let dir = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: dir.isEmpty ? "." : dir, withIntermediateDirectories: true)
        } catch {
            throw StoreError.unwritable(path: path, detail: error.localizedDescription)
        }
        var config = Configuration()
        config.busyMode = .timeout(busyTimeout)
        // WAL with synchronous=NORMAL (SQLite's advice for WAL): a commit no longer waits for
        // an fsync of the log; a crash or kill -9 of gpuflow still loses nothing committed, and
        // power loss can lose only the last commits, never the database's consistency.
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        // Processes that open a new store at once would each find no schema and each create it
        // (the second failing with "table runs already exists"): the migrator reads what is
        // applied outside the transaction that applies it. One advisory lock per store file
        // makes opening and migrating one process at a time; later writes rely on SQLite's.
        let lock = Self.lockOpening(path)
        defer { Self.unlock(lock) }
        do {
            db = try DatabasePool(path: path, configuration: config)
            try Self.migrator.migrate(db)
        } catch {
            throw Self.map(error, path: path)
        }
        recoverPartialArtifacts()
        finishArtifactRemovals()
    }

    /// An exclusive flock on `PATH.lock`, or -1 where the file cannot be made (a read-only
    /// directory: opening then fails with SQLite's own, clearer error).
    private static func lockOpening(_ path: String) -> Int32 {
        let fd = open(path + ".lock", O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return -1 }
        while flock(fd, LOCK_EX) != 0 && errno == EINTR {}
        return fd
    }

    private static func unlock(_ fd: Int32) {
        guard fd >= 0 else { return }
        flock(fd, LOCK_UN)
        close(fd)
    }

    static func map(_ error: Error, path: String) -> Error {
        guard let e = error as? DatabaseError else { return error }
        switch e.resultCode {
        case .SQLITE_NOTADB, .SQLITE_CORRUPT: return StoreError.corrupt(path: path, detail: e.message ?? "\(e)")
        case .SQLITE_BUSY, .SQLITE_LOCKED: return StoreError.locked(path: path)
        case .SQLITE_FULL: return StoreError.full(path: path)
        case .SQLITE_READONLY, .SQLITE_CANTOPEN, .SQLITE_PERM, .SQLITE_IOERR:
            return StoreError.unwritable(path: path, detail: e.message ?? "\(e)")
        default: return error
        }
    }

    func write<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try db.write(body) } catch { throw Self.map(error, path: path) }
    }

    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try db.read(body) } catch { throw Self.map(error, path: path) }
    }

    private static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE runs (id TEXT PRIMARY KEY, status TEXT NOT NULL, exit_code INTEGER, started_at REAL NOT NULL, ended_at REAL,
                                       script TEXT NOT NULL, seed INTEGER NOT NULL, backend TEXT NOT NULL, device TEXT NOT NULL,
                                       manifest TEXT NOT NULL, pid INTEGER NOT NULL, host TEXT NOT NULL, resumed_from TEXT);
                    CREATE TABLE tasks (run_id TEXT NOT NULL, task_id INTEGER NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL, agent TEXT,
                                        state TEXT NOT NULL, backend TEXT, submitted_at REAL, started_at REAL, finished_at REAL, error TEXT,
                                        PRIMARY KEY (run_id, task_id));
                    CREATE TABLE metrics (run_id TEXT NOT NULL, task_id INTEGER NOT NULL, key TEXT NOT NULL, step INTEGER, value REAL NOT NULL);
                    CREATE INDEX metrics_run ON metrics (run_id, task_id);
                    CREATE TABLE params (run_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (run_id, key));
                    CREATE TABLE events (run_id TEXT NOT NULL, at REAL NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL);
                    CREATE INDEX events_run ON events (run_id);
                    CREATE TABLE samples (run_id TEXT NOT NULL, t REAL NOT NULL, resident_bytes REAL, pool_bytes REAL);
                    CREATE TABLE artifacts (hash TEXT PRIMARY KEY, kind TEXT NOT NULL, bytes INTEGER NOT NULL, created_at REAL NOT NULL);
                    CREATE TABLE run_artifacts (run_id TEXT NOT NULL, name TEXT NOT NULL, hash TEXT NOT NULL, kind TEXT NOT NULL, task_id INTEGER);
                    CREATE INDEX run_artifacts_run ON run_artifacts (run_id);
                    CREATE TABLE stages (key TEXT PRIMARY KEY, name TEXT NOT NULL, run_id TEXT NOT NULL, result TEXT NOT NULL, created_at REAL NOT NULL);
                    CREATE INDEX stages_run ON stages (run_id, name);
                    """)
        }
        m.registerMigration("v2-jobs") { db in
            try db.execute(
                sql: """
                    CREATE TABLE jobs (id TEXT PRIMARY KEY, agent TEXT NOT NULL, state TEXT NOT NULL, script TEXT NOT NULL,
                                       arguments TEXT NOT NULL, profile TEXT, created_at REAL NOT NULL, started_at REAL, ended_at REAL,
                                       exit_code INTEGER, run_id TEXT, reason TEXT);
                    CREATE INDEX jobs_agent ON jobs (agent, created_at);
                    CREATE TABLE job_events (job_id TEXT NOT NULL, seq INTEGER NOT NULL, line TEXT NOT NULL, PRIMARY KEY (job_id, seq));
                    """)
        }
        m.registerMigration("v3-cluster") { db in
            try db.execute(
                sql: """
                    CREATE TABLE cluster_jobs (run_id TEXT NOT NULL, stage TEXT NOT NULL, job_id TEXT NOT NULL, array_index INTEGER,
                                               submitted_at REAL NOT NULL, state TEXT NOT NULL, node TEXT, elapsed TEXT, exit_code TEXT,
                                               tres TEXT, reason TEXT, updated_at REAL, PRIMARY KEY (run_id, stage));
                    """)
        }
        m.registerMigration("v4-job-resumes") { db in
            // The job that resumed this one (a job resumes at most once), and the run lookup
            // by run id that report ownership needs.
            try db.execute(
                sql: """
                    ALTER TABLE jobs ADD COLUMN resumed_by TEXT;
                    CREATE INDEX jobs_run ON jobs (run_id);
                    """)
        }
        m.registerMigration("v5-checkpoints") { db in
            // Training checkpoints get a table of their own (they were stage rows, one per
            // epoch, never dropped); the newest of each task moves over.
            try db.execute(
                sql: """
                    CREATE TABLE checkpoints (key TEXT NOT NULL, hash TEXT NOT NULL, created_at REAL NOT NULL);
                    CREATE INDEX checkpoints_key ON checkpoints (key, created_at);
                    INSERT INTO checkpoints (key, hash, created_at)
                        SELECT substr(key, 12), result, created_at FROM stages WHERE key LIKE 'checkpoint:%';
                    DELETE FROM stages WHERE key LIKE 'checkpoint:%';
                    """)
        }
        m.registerMigration("v6-metric-series") { db in
            try db.execute(
                sql: """
                    CREATE TABLE metric_series (run_id TEXT NOT NULL, task_id INTEGER NOT NULL, key TEXT NOT NULL,
                                                steps BLOB NOT NULL, vals BLOB NOT NULL);
                    CREATE INDEX metric_series_run ON metric_series (run_id, task_id);
                    """)
        }
        // Artifact files whose rows a transaction deleted, until the files are gone: a kill
        // between the commit and the removal left the file behind, named by no row.
        m.registerMigration("v7-artifact-removals") { db in
            try db.execute(sql: "CREATE TABLE artifact_removals (hash TEXT PRIMARY KEY)")
        }
        // What a script logs itself (gpu.log, gpu.tag) and a run's name and experiment, kept
        // apart from what gpuflow records of its tasks.
        m.registerMigration("v8-tracking") { db in
            try db.execute(
                sql: """
                    ALTER TABLE runs ADD COLUMN name TEXT;
                    ALTER TABLE runs ADD COLUMN experiment TEXT;
                    CREATE INDEX runs_experiment ON runs (experiment, started_at);
                    CREATE TABLE tags (run_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (run_id, key));
                    CREATE TABLE logged_params (run_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (run_id, key));
                    CREATE TABLE logged_metrics (run_id TEXT NOT NULL, key TEXT NOT NULL, step INTEGER NOT NULL, value REAL NOT NULL,
                                                 at REAL NOT NULL);
                    CREATE INDEX logged_metrics_run ON logged_metrics (run_id, key, step);
                    """)
        }
        // Why a run failed, kept: its error, the script line, the traceback.
        m.registerMigration("v9-failures") { db in
            try db.execute(
                sql: """
                    ALTER TABLE runs ADD COLUMN error TEXT;
                    ALTER TABLE runs ADD COLUMN error_at TEXT;
                    ALTER TABLE runs ADD COLUMN traceback TEXT;
                    """)
        }
        return m
    }

    // MARK: Cluster jobs (gpuflow submit --slurm)

    /// A stage (or sweep element) of a cluster run and the Slurm job that runs it, as last seen.
    public struct ClusterJob: Sendable, Equatable {
        public var stage: String
        public var jobID: String
        public var arrayIndex: Int?
        public var submittedAt: Double
        public var state: String
        public var node: String?
        public var elapsed: String?
        public var exitCode: String?
        public var tres: String?
        public var reason: String?
        public init(stage: String, jobID: String, arrayIndex: Int?, submittedAt: Double, state: String) {
            self.stage = stage
            self.jobID = jobID
            self.arrayIndex = arrayIndex
            self.submittedAt = submittedAt
            self.state = state
        }
        /// How Slurm names it: 123, or 123_4 for an element of a job array.
        public var slurmID: String { arrayIndex.map { "\(jobID)_\($0)" } ?? jobID }
    }

    public func putClusterJobs(_ run: String, _ jobs: [ClusterJob]) throws {
        try write { db in
            for j in jobs {
                try db.execute(
                    sql: """
                        INSERT OR REPLACE INTO cluster_jobs (run_id, stage, job_id, array_index, submitted_at, state, node, elapsed, exit_code, tres, reason, updated_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        run, j.stage, j.jobID, j.arrayIndex, j.submittedAt, j.state, j.node, j.elapsed, j.exitCode, j.tres, j.reason,
                        Date().timeIntervalSince1970,
                    ])
            }
        }
    }

    public func clusterJobs(_ run: String) throws -> [ClusterJob] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM cluster_jobs WHERE run_id = ? ORDER BY submitted_at, rowid", arguments: [run]).map {
                r in
                var j = ClusterJob(
                    stage: r["stage"], jobID: r["job_id"], arrayIndex: r["array_index"], submittedAt: r["submitted_at"], state: r["state"])
                j.node = r["node"]
                j.elapsed = r["elapsed"]
                j.exitCode = r["exit_code"]
                j.tres = r["tres"]
                j.reason = r["reason"]
                return j
            }
        }
    }

    /// A cluster run's state as its stages' jobs make it (submitted, running, succeeded,
    /// failed, cancelled); it ends when none of them can run any more.
    public func setRunStatus(_ run: String, status: String, exitCode: Int?, ended: Bool) throws {
        try write { db in
            try db.execute(
                sql:
                    "UPDATE runs SET status = ?, exit_code = ?, ended_at = CASE WHEN ? THEN COALESCE(ended_at, ?) ELSE NULL END WHERE id = ?",
                arguments: [status, exitCode, ended, Date().timeIntervalSince1970, run])
        }
    }

    // MARK: Jobs (the job server's)

    public struct Job: Sendable, Equatable {
        public var id: String
        public var agent: String
        public var state: String
        public var script: String
        public var arguments: [String]
        public var profile: String?
        public var createdAt: Double
        public var startedAt: Double?
        public var endedAt: Double?
        public var exitCode: Int?
        public var runID: String?
        public var reason: String?
        /// The job that resumed this one, once one has.
        public var resumedBy: String?
        public init(id: String, agent: String, state: String, script: String, arguments: [String], profile: String?, createdAt: Double) {
            self.id = id
            self.agent = agent
            self.state = state
            self.script = script
            self.arguments = arguments
            self.profile = profile
            self.createdAt = createdAt
        }
    }

    private static func job(_ r: Row) -> Job {
        let args = (try? JSONDecoder().decode([String].self, from: Data((r["arguments"] as String).utf8))) ?? []
        var j = Job(
            id: r["id"], agent: r["agent"], state: r["state"], script: r["script"], arguments: args, profile: r["profile"],
            createdAt: r["created_at"])
        j.startedAt = r["started_at"]
        j.endedAt = r["ended_at"]
        j.exitCode = r["exit_code"]
        j.runID = r["run_id"]
        j.reason = r["reason"]
        j.resumedBy = r["resumed_by"]
        return j
    }

    /// Writes the job's record; `resumed_by` is kept as `putResumingJob` set it (it only ever
    /// goes from nothing to one job).
    public func putJob(_ j: Job) throws {
        let args = String(decoding: try JSONEncoder().encode(j.arguments), as: UTF8.self)
        try write { db in try Self.upsert(j, arguments: args, in: db) }
    }

    private static func upsert(_ j: Job, arguments args: String, in db: Database) throws {
        try db.execute(
            sql: """
                INSERT INTO jobs (id, agent, state, script, arguments, profile, created_at, started_at, ended_at, exit_code, run_id, reason, resumed_by)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET agent = excluded.agent, state = excluded.state, script = excluded.script,
                    arguments = excluded.arguments, profile = excluded.profile, created_at = excluded.created_at,
                    started_at = excluded.started_at, ended_at = excluded.ended_at, exit_code = excluded.exit_code,
                    run_id = excluded.run_id, reason = excluded.reason, resumed_by = COALESCE(jobs.resumed_by, excluded.resumed_by)
                """,
            arguments: [
                j.id, j.agent, j.state, j.script, args, j.profile, j.createdAt, j.startedAt, j.endedAt, j.exitCode, j.runID, j.reason,
                j.resumedBy,
            ])
    }

    public func job(_ id: String) throws -> Job? {
        try read { db in try Row.fetchOne(db, sql: "SELECT * FROM jobs WHERE id = ?", arguments: [id]).map(Self.job) }
    }

    /// The job whose worker recorded run `run` (exact id), as the server assigned it.
    public func job(recording run: String) throws -> Job? {
        try read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM jobs WHERE run_id = ? ORDER BY created_at LIMIT 1", arguments: [run]).map(Self.job)
        }
    }

    public func jobs(agent: String? = nil, state: String? = nil, limit: Int = 200) throws -> [Job] {
        try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM jobs WHERE (? IS NULL OR agent = ?) AND (? IS NULL OR state = ?) ORDER BY created_at DESC LIMIT ?
                    """, arguments: [agent, agent, state, state, limit]
            ).map(Self.job)
        }
    }

    /// A write the job server makes for a job: its record, or one of its events.
    public enum JobRecord: Sendable {
        case job(Job)
        case event(job: String, seq: Int, line: String)
    }

    /// Writes job records and events in one transaction, in order.
    public func record(_ items: [JobRecord]) throws {
        guard !items.isEmpty else { return }
        let encoded = try items.map { item -> (JobRecord, String?) in
            if case .job(let j) = item { return (item, String(decoding: try JSONEncoder().encode(j.arguments), as: UTF8.self)) }
            return (item, nil)
        }
        try write { db in
            for (item, args) in encoded {
                switch item {
                case .job(let j):
                    try Self.upsert(j, arguments: args ?? "[]", in: db)
                case .event(let id, let seq, let line):
                    try db.execute(
                        sql: "INSERT OR IGNORE INTO job_events (job_id, seq, line) VALUES (?, ?, ?)", arguments: [id, seq, line])
                }
            }
        }
    }

    /// Inserts `j`, a job that resumes job `old`, unless another job resumed `old` already; one
    /// transaction. Returns the job that resumes `old`: `j.id` when this call made it.
    public func putResumingJob(_ j: Job, resuming old: String) throws -> String? {
        let args = String(decoding: try JSONEncoder().encode(j.arguments), as: UTF8.self)
        return try write { db in
            try db.execute(sql: "UPDATE jobs SET resumed_by = ? WHERE id = ? AND resumed_by IS NULL", arguments: [j.id, old])
            if db.changesCount == 1 { try Self.upsert(j, arguments: args, in: db) }
            return try String.fetchOne(db, sql: "SELECT resumed_by FROM jobs WHERE id = ?", arguments: [old])
        }
    }

    public func appendJobEvent(_ id: String, seq: Int, line: String) throws {
        try write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO job_events (job_id, seq, line) VALUES (?, ?, ?)", arguments: [id, seq, line])
        }
    }

    public func jobEvents(_ id: String, after seq: Int = -1) throws -> [(seq: Int, line: String)] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT seq, line FROM job_events WHERE job_id = ? AND seq > ? ORDER BY seq", arguments: [id, seq])
                .map { ($0["seq"], $0["line"]) }
        }
    }

    /// Jobs left queued or running by a server that stopped: interrupted (they can be resubmitted).
    @discardableResult
    public func interruptUnfinishedJobs() throws -> Int {
        try write { db in
            try db.execute(
                sql:
                    "UPDATE jobs SET state = 'interrupted', reason = 'the server stopped while it was ' || state WHERE state IN ('queued', 'running')"
            )
            return db.changesCount
        }
    }

    // MARK: Runs

    /// A run id that sorts by time and says when: r20261129-122931-7f3a.
    public static func newRunID() -> String {
        "r" + UTCStamp.string(Date().timeIntervalSince1970, format: "%Y%m%d-%H%M%S") + "-"
            + Hex.encode(withUnsafeBytes(of: UInt16.random(in: 0...UInt16.max).bigEndian) { Array($0) })
    }

    /// Records a run's start, with its parameters, name and experiment, in one transaction.
    public func beginRun(
        _ m: Manifest, id: String = RunStore.newRunID(), resumedFrom: String? = nil, params: [String: String] = [:],
        name: String? = nil, experiment: String? = nil
    ) throws -> String {
        let json = try m.json()
        try write { db in
            try db.execute(
                sql: """
                    INSERT INTO runs (id, status, started_at, script, seed, backend, device, manifest, pid, host, resumed_from, name, experiment)
                    VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    id, m.startedAt, m.scripts.map(\.path).joined(separator: " "), Int64(bitPattern: m.seed), m.backend, m.device,
                    json, Int(m.pid), m.host, resumedFrom, name, experiment,
                ])
            try Self.recordParams(db, id, params)
        }
        return id
    }

    /// A run's end in one transaction: its tasks, memory samples and final status (each write
    /// is a commit; a short run paid for several at its end).
    public func endRun(
        _ id: String, tasks: some Sequence<TaskRow>, samples: [(t: Double, resident: Double?, pool: Double?)], status: String,
        exitCode: Int32, manifest: Manifest, failure: RunFailure? = nil
    ) throws {
        let json = try manifest.json()
        try write { db in
            try Self.recordTasks(db, id, tasks)
            try Self.recordSamples(db, id, samples)
            try Self.finishRun(db, id, status: status, exitCode: exitCode, manifest: manifest, json: json, failure: failure)
        }
    }

    public func finishRun(_ id: String, status: String, exitCode: Int32, manifest: Manifest, failure: RunFailure? = nil) throws {
        let json = try manifest.json()
        try write { db in
            try Self.finishRun(db, id, status: status, exitCode: exitCode, manifest: manifest, json: json, failure: failure)
        }
    }

    static func finishRun(
        _ db: Database, _ id: String, status: String, exitCode: Int32, manifest: Manifest, json: String, failure: RunFailure?
    ) throws {
        try db.execute(
            sql:
                "UPDATE runs SET status = ?, exit_code = ?, ended_at = ?, manifest = ?, error = ?, error_at = ?, traceback = ? WHERE id = ?",
            arguments: [
                status, Int(exitCode), manifest.endedAt ?? Date().timeIntervalSince1970, json, failure?.message, failure?.location,
                failure?.traceback, id,
            ])
    }

    /// Runs still marked running whose process is gone (killed, crashed, power lost) are
    /// interrupted; a run on another host is left alone. Returns how many changed.
    @discardableResult
    public func markInterrupted() throws -> Int {
        let host = ProcessInfo.processInfo.hostName
        // One write transaction: the check and the change see the same rows, and a short run
        // opens no reader connection for it.
        return try write { db in
            // A cluster run's processes are Slurm's, on other nodes: `gpuflow status` follows those.
            let running = try Row.fetchAll(
                db,
                sql: """
                    SELECT id, pid FROM runs WHERE status = 'running' AND host = ? AND id NOT IN (SELECT DISTINCT run_id FROM cluster_jobs)
                    """, arguments: [host])
            var n = 0
            for r in running {
                let pid: Int = r["pid"]
                if pid > 0, Self.alive(pid_t(pid)) { continue }
                let id: String = r["id"]
                try db.execute(sql: "UPDATE runs SET status = 'interrupted' WHERE id = ? AND status = 'running'", arguments: [id])
                n += 1
            }
            return n
        }
    }

    /// A process that exists and is not a zombie (an exited child no one has reaped yet).
    static func alive(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return true }
        return !stat[close...].dropFirst(2).hasPrefix("Z")
    }

    public struct RunSummary: Sendable {
        public let id: String
        public let status: String
        public let exitCode: Int?
        public let startedAt: Double
        public let endedAt: Double?
        public let script: String
        public let backend: String
        public let tasks: Int
        public let resumedFrom: String?
        /// Why it failed, when it did.
        public var failure: RunFailure? = nil
    }

    public func runs(limit: Int = 50) throws -> [RunSummary] {
        try markInterrupted()
        return try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT r.*, (SELECT COUNT(*) FROM tasks t WHERE t.run_id = r.id) AS n FROM runs r ORDER BY started_at DESC LIMIT ?
                    """, arguments: [limit]
            ).map(Self.summary)
        }
    }

    static func summary(_ r: Row) -> RunSummary {
        RunSummary(
            id: r["id"], status: r["status"], exitCode: r["exit_code"], startedAt: r["started_at"], endedAt: r["ended_at"],
            script: r["script"], backend: r["backend"], tasks: r["n"] ?? 0, resumedFrom: r["resumed_from"],
            failure: (r["error"] as String?).map { RunFailure(message: $0, location: r["error_at"], traceback: r["traceback"]) })
    }

    /// A run id, or a unique prefix of one, or "last" (for the command line; the job server
    /// names runs by exact id only). The prefix is compared as text, never as a pattern, so
    /// `%` or `_` match only themselves; a prefix that fits several runs is an error naming them.
    public func resolve(_ idOrPrefix: String) throws -> String {
        try markInterrupted()
        guard !idOrPrefix.isEmpty else { throw StoreError.unknownRun(idOrPrefix) }
        let ids: [String] = try read { db in
            if idOrPrefix == "last" { return try String.fetchAll(db, sql: "SELECT id FROM runs ORDER BY started_at DESC LIMIT 1") }
            return try String.fetchAll(
                db, sql: "SELECT id FROM runs WHERE substr(id, 1, ?) = ? ORDER BY started_at DESC",
                arguments: [idOrPrefix.unicodeScalars.count, idOrPrefix])
        }
        if ids.contains(idOrPrefix) { return idOrPrefix }
        guard ids.count == 1, let only = ids.first else {
            if ids.count > 1 { throw StoreError.ambiguousRun(idOrPrefix, candidates: ids) }
            throw StoreError.unknownRun(idOrPrefix)
        }
        return only
    }

    /// Whether a run with exactly this id is recorded.
    public func hasRun(_ id: String) throws -> Bool {
        try read { db in try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM runs WHERE id = ?)", arguments: [id]) ?? false }
    }

    public func summary(_ id: String) throws -> RunSummary {
        guard
            let r = try read({ db in
                try Row.fetchOne(
                    db, sql: "SELECT r.*, (SELECT COUNT(*) FROM tasks t WHERE t.run_id = r.id) AS n FROM runs r WHERE id = ?",
                    arguments: [id])
            })
        else { throw StoreError.unknownRun(id) }
        return Self.summary(r)
    }

    public func manifest(_ id: String) throws -> Manifest {
        guard let json = try read({ db in try String.fetchOne(db, sql: "SELECT manifest FROM runs WHERE id = ?", arguments: [id]) }) else {
            throw StoreError.unknownRun(id)
        }
        return try Manifest.decode(json, run: id)
    }

    // MARK: Tasks, metrics, parameters, events

    public struct TaskRow: Sendable, Equatable {
        public var taskID: Int
        public var name: String
        public var type: String
        public var agent: String?
        public var state: String
        public var backend: String?
        public var submittedAt: Double?
        public var startedAt: Double?
        public var finishedAt: Double?
        public var error: String?
        public init(
            taskID: Int, name: String, type: String, agent: String?, state: String, backend: String?, submittedAt: Double?,
            startedAt: Double?, finishedAt: Double?, error: String?
        ) {
            self.taskID = taskID
            self.name = name
            self.type = type
            self.agent = agent
            self.state = state
            self.backend = backend
            self.submittedAt = submittedAt
            self.startedAt = startedAt
            self.finishedAt = finishedAt
            self.error = error
        }
    }

    public func recordTasks(_ run: String, _ rows: [TaskRow]) throws {
        try write { db in try Self.recordTasks(db, run, rows) }
    }

    /// One statement prepared once for all the rows: a run of a million tasks records them in
    /// seconds, not in the minutes that parsing the statement per row takes.
    static func recordTasks(_ db: Database, _ run: String, _ rows: some Sequence<TaskRow>) throws {
        let insert = try db.cachedStatement(
            sql: """
                INSERT OR REPLACE INTO tasks (run_id, task_id, name, type, agent, state, backend, submitted_at, started_at, finished_at, error)
                VALUES (?, ?, ?, ?, ?, ?, COALESCE(?, (SELECT backend FROM tasks WHERE run_id = ? AND task_id = ?)), ?, ?, ?, ?)
                """)
        for t in rows {
            try insert.execute(arguments: [
                run, t.taskID, t.name, t.type, t.agent, t.state, t.backend, run, t.taskID, t.submittedAt,
                t.startedAt, t.finishedAt, t.error,
            ])
        }
    }

    public func tasks(_ run: String) throws -> [TaskRow] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM tasks WHERE run_id = ? ORDER BY task_id", arguments: [run]).map { r in
                TaskRow(
                    taskID: r["task_id"], name: r["name"], type: r["type"], agent: r["agent"], state: r["state"], backend: r["backend"],
                    submittedAt: r["submitted_at"], startedAt: r["started_at"], finishedAt: r["finished_at"], error: r["error"])
            }
        }
    }

    public struct Metric: Sendable, Equatable {
        public var taskID: Int
        public var key: String
        public var step: Int?
        public var value: Double
        public init(taskID: Int, key: String, step: Int? = nil, value: Double) {
            self.taskID = taskID
            self.key = key
            self.step = step
            self.value = value
        }
    }

    public func recordMetrics(_ run: String, _ metrics: [Metric]) throws {
        guard !metrics.isEmpty else { return }
        try write { db in try Self.recordMetrics(db, run, metrics) }
    }

    static func recordMetrics(_ db: Database, _ run: String, _ metrics: [Metric]) throws {
        let insert = try db.cachedStatement(sql: "INSERT INTO metrics (run_id, task_id, key, step, value) VALUES (?, ?, ?, ?, ?)")
        for m in metrics where m.value.isFinite { try insert.execute(arguments: [run, m.taskID, m.key, m.step, m.value]) }
    }

    /// Every metric of a run, the per-step series' points among them, ordered by task, key
    /// and step.
    public func metrics(_ run: String) throws -> [Metric] {
        try read { db in
            let scalars = try Row.fetchAll(db, sql: "SELECT * FROM metrics WHERE run_id = ?", arguments: [run]).map { r in
                Metric(taskID: r["task_id"], key: r["key"], step: r["step"], value: r["value"])
            }
            return (scalars + (try Self.seriesPoints(db, run, path: path))).sorted { a, b in
                (a.taskID, a.key, a.step ?? Int.min) < (b.taskID, b.key, b.step ?? Int.min)
            }
        }
    }

    public func recordParams(_ run: String, _ params: [String: String]) throws {
        try write { db in try Self.recordParams(db, run, params) }
    }

    static func recordParams(_ db: Database, _ run: String, _ params: [String: String]) throws {
        for (k, v) in params {
            try db.execute(sql: "INSERT OR REPLACE INTO params (run_id, key, value) VALUES (?, ?, ?)", arguments: [run, k, v])
        }
    }

    public func params(_ run: String) throws -> [String: String] {
        try read { db in
            Dictionary(
                uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT key, value FROM params WHERE run_id = ?", arguments: [run])
                    .map { ($0["key"] as String, $0["value"] as String) })
        }
    }

    public func recordEvent(_ run: String, kind: String, body: String, at: Double = Date().timeIntervalSince1970) throws {
        try write { db in
            try db.execute(sql: "INSERT INTO events (run_id, at, kind, body) VALUES (?, ?, ?, ?)", arguments: [run, at, kind, body])
        }
    }

    public func events(_ run: String) throws -> [(at: Double, kind: String, body: String)] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT at, kind, body FROM events WHERE run_id = ? ORDER BY rowid", arguments: [run]).map {
                ($0["at"], $0["kind"], $0["body"])
            }
        }
    }

    public func recordSamples(_ run: String, _ samples: [(t: Double, resident: Double?, pool: Double?)]) throws {
        guard !samples.isEmpty else { return }
        try write { db in try Self.recordSamples(db, run, samples) }
    }

    static func recordSamples(_ db: Database, _ run: String, _ samples: [(t: Double, resident: Double?, pool: Double?)]) throws {
        let insert = try db.cachedStatement(sql: "INSERT INTO samples (run_id, t, resident_bytes, pool_bytes) VALUES (?, ?, ?, ?)")
        for s in samples { try insert.execute(arguments: [run, s.t, s.resident, s.pool]) }
    }

    public func samples(_ run: String) throws -> [(t: Double, resident: Double?, pool: Double?)] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT t, resident_bytes, pool_bytes FROM samples WHERE run_id = ? ORDER BY t", arguments: [run])
                .map { ($0["t"], $0["resident_bytes"], $0["pool_bytes"]) }
        }
    }

    // MARK: Artifacts

    /// Stores bytes under their SHA-256 (once) and returns the hash.
    @discardableResult
    public func putArtifact(_ data: Data, kind: String) throws -> String {
        try putArtifacts([data], kind: kind)[0]
    }

    /// Several artifacts' files, then their rows in one transaction.
    public func putArtifacts(_ items: [Data], kind: String) throws -> [String] {
        let staged = try items.map(stageArtifact)
        try write { db in
            for a in staged { try Self.insertArtifact(db, hash: a.hash, kind: kind, bytes: a.bytes) }
        }
        publish(staged)
        return staged.map(\.hash)
    }

    static func insertArtifact(_ db: Database, hash: String, kind: String, bytes: Int) throws {
        try db.execute(
            // A hash stored again is fresh again: gc spares artifacts stored since the oldest
            // running run began, which a run may store now and name in a later transaction.
            sql: """
                INSERT INTO artifacts (hash, kind, bytes, created_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (hash) DO UPDATE SET created_at = excluded.created_at
                """,
            arguments: [hash, kind, bytes, Date().timeIntervalSince1970])
    }

    public func artifactPath(_ hash: String) -> String { artifactDirectory + "/" + hash.prefix(2) + "/" + hash }

    public func artifact(_ hash: String) throws -> Data {
        guard let d = FileManager.default.contents(atPath: artifactPath(hash)) else { throw StoreError.missingArtifact(hash) }
        guard ContentHash.of(d) == hash else {
            throw StoreError.corrupt(path: artifactPath(hash), detail: "its content does not match its hash")
        }
        return d
    }

    public func linkArtifact(_ run: String, name: String, hash: String, kind: String, taskID: Int? = nil) throws {
        try write { db in try Self.linkArtifact(db, run, name: name, hash: hash, kind: kind, taskID: taskID) }
    }

    static func linkArtifact(_ db: Database, _ run: String, name: String, hash: String, kind: String, taskID: Int?) throws {
        try db.execute(
            sql: "INSERT INTO run_artifacts (run_id, name, hash, kind, task_id) VALUES (?, ?, ?, ?, ?)",
            arguments: [run, name, hash, kind, taskID])
    }

    /// A finished task's final metrics, its models (files first, then rows) and its row, in one
    /// transaction: a short task paid for a commit each.
    public func finishTask(_ run: String, metrics: [Metric], models: [(name: String, data: Data)], task: TaskRow) throws {
        let staged = try models.map { try stageArtifact($0.data) }
        try write { db in
            try Self.recordMetrics(db, run, metrics)
            for (m, a) in zip(models, staged) {
                try Self.insertArtifact(db, hash: a.hash, kind: "model", bytes: a.bytes)
                try Self.linkArtifact(db, run, name: m.name, hash: a.hash, kind: "model", taskID: task.taskID)
            }
            try Self.recordTasks(db, run, [task])
        }
        publish(staged)
    }

    public func artifacts(_ run: String) throws -> [(name: String, hash: String, kind: String, taskID: Int?)] {
        try read { db in
            try Row.fetchAll(
                db, sql: "SELECT name, hash, kind, task_id FROM run_artifacts WHERE run_id = ? ORDER BY rowid", arguments: [run]
            )
            .map { ($0["name"], $0["hash"], $0["kind"], $0["task_id"]) }
        }
    }

    /// One artifact a run names, with its size.
    public struct ArtifactEntry: Sendable, Equatable {
        public let name: String
        public let kind: String
        public let hash: String
        public let taskID: Int?
        public let bytes: Int
        public let createdAt: Double
    }

    public func artifactEntries(_ run: String) throws -> [ArtifactEntry] {
        try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT ra.name, ra.kind, ra.hash, ra.task_id, coalesce(a.bytes, 0) AS bytes, coalesce(a.created_at, 0) AS created_at
                    FROM run_artifacts ra LEFT JOIN artifacts a ON a.hash = ra.hash WHERE ra.run_id = ? ORDER BY ra.rowid
                    """, arguments: [run]
            ).map {
                ArtifactEntry(
                    name: $0["name"], kind: $0["kind"], hash: $0["hash"], taskID: $0["task_id"], bytes: $0["bytes"],
                    createdAt: $0["created_at"])
            }
        }
    }

    // MARK: Cached stages

    public struct Stage: Sendable, Equatable {
        public let key: String
        public let name: String
        public let run: String
        public let result: String
    }

    public func stage(_ key: String) throws -> Stage? {
        try read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM stages WHERE key = ?", arguments: [key]).map {
                Stage(key: $0["key"], name: $0["name"], run: $0["run_id"], result: $0["result"])
            }
        }
    }

    public func putStage(key: String, name: String, run: String, result: String) throws {
        try write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO stages (key, name, run_id, result, created_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [key, name, run, result, Date().timeIntervalSince1970])
        }
    }

    public func stages(run: String) throws -> [Stage] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM stages WHERE run_id = ? ORDER BY created_at", arguments: [run]).map {
                Stage(key: $0["key"], name: $0["name"], run: $0["run_id"], result: $0["result"])
            }
        }
    }
}
