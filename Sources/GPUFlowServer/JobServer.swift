import Foundation
import GPUFlowCore
import GPUFlowStore
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// The HTTP API for agents' jobs (documented in openapi.yaml), bound to loopback by default:
/// bearer tokens per agent, request size and rate limits, JSON errors of one shape
/// ({"error": {"code", "message"}}), live events as Server-Sent Events, a dashboard, health and
/// Prometheus metrics. A connection that sends nothing whole for `idleTimeout` seconds (no
/// request head, however slowly its bytes come) is closed, as is one whose request body takes
/// longer than `requestTimeout`.
public struct JobServer: Sendable {
    public struct Settings: Sendable {
        public var host = "127.0.0.1"
        public var port = 8080
        /// Largest request body (a script and its arguments).
        public var maxBodyBytes = 256 << 10
        /// Submissions (and resumes) an agent may make per minute.
        public var submissionsPerMinute = 600
        /// Seconds a connection may sit without a whole request head (idle between requests,
        /// or sending its headers slowly) before it is closed.
        public var idleTimeout = 30.0
        /// Seconds from a request's head to the end of its body.
        public var requestTimeout = 30.0
        public init() {}
    }

    let settings: Settings
    let tokens: Tokens
    let jobs: JobManager
    let store: RunStore
    let limiter = RateLimiter()

    public init(settings: Settings, tokens: Tokens, jobs: JobManager, store: RunStore) {
        self.settings = settings
        self.tokens = tokens
        self.jobs = jobs
        self.store = store
    }

    /// An answer of the API's types, keys sorted as every answer's are.
    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    static func error(_ status: HTTPResponse.Status, _ code: String, _ message: String) -> Response {
        // Two strings always encode; the fallback is never taken.
        (try? json(ErrorBody(error: .init(code: code, message: message)), status: status)) ?? Response(status: status)
    }

    /// The worker's secret for its job (the X-Job-Token header), named once.
    static func jobToken(_ request: Request) -> String? {
        HTTPField.Name("X-Job-Token").flatMap { request.headers[$0] }
    }

    /// The limit on a request's body: the API's, or 1 MiB for workers' admission requests.
    static func bodyLimit(_ settings: Settings) -> @Sendable (String) -> Int {
        let api = settings.maxBodyBytes
        return { path in path.hasPrefix("/internal/") ? max(api, 1 << 20) : api }
    }

    static func html(_ text: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// The routes: open ones (health, dashboard, metrics), the agents' `/v1` behind their
    /// bearer tokens, the workers' `/internal` behind their job secrets. Errors are thrown as
    /// `APIError` and rendered in the one JSON shape.
    func router() -> Router<ServerContext> {
        let router = Router(context: ServerContext.self)
        router.add(middleware: APIErrorMiddleware())
        router.add(middleware: BodyLimitMiddleware(limit: Self.bodyLimit(settings)))
        router.get("healthz") { _, _ in try Self.json(HealthAnswer(status: "ok")) }
        router.get("/") { _, _ in Self.html(Dashboard.html) }
        router.get("metrics") { [jobs] _, _ -> Response in
            let slices = await jobs.slices?.handovers()
            let text = ServerMetrics.text(await jobs.stats(), slices: slices)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        agentRoutes(router.group("v1").add(middleware: AgentAuthMiddleware(tokens: tokens)))
        workerRoutes(router.group("internal").add(middleware: WorkerAuthMiddleware(jobs: jobs)))
        return router
    }

    private func agentRoutes(_ v1: RouterGroup<ServerContext>) {
        let jobs = self.jobs, store = self.store, settings = self.settings, limiter = self.limiter
        @Sendable func allowSubmission(_ agent: String) throws {
            guard limiter.allow(agent, perMinute: settings.submissionsPerMinute) else {
                throw APIError.rateLimited(agent, perMinute: settings.submissionsPerMinute)
            }
        }
        // Another agent's job is not even named: it answers as a job that does not exist.
        @Sendable func ownJob(_ context: ServerContext) async throws -> RunStore.Job {
            let who = try context.agent()
            guard let id = context.parameters.get("id"), let job = await jobs.job(id), who.admin || job.agent == who.agent else {
                throw APIError.noSuchJob
            }
            return job
        }

        v1.post("jobs") { request, context -> Response in
            let who = try context.agent()
            try allowSubmission(who.agent)
            var req = request
            let body: ByteBuffer
            do { body = try await req.collectBody(upTo: settings.maxBodyBytes) } catch { throw APIError.tooLarge(settings.maxBodyBytes) }
            let submission = try SubmitRequest.decode(body)
            let agent = submission.agent ?? who.agent
            guard agent == who.agent || who.admin else {
                throw APIError(.forbidden, "forbidden", "agent \(who.agent) cannot submit as \(agent)")
            }
            guard !agent.isEmpty, !agent.utf8.contains(0) else {
                throw APIError.badRequest("bad_agent", "'agent' must name an agent (not empty, no NUL characters)")
            }
            do {
                let job = try await jobs.submit(agent: agent, script: submission.script, arguments: submission.arguments)
                return try Self.json(JobView(job), status: .created)
            } catch {
                throw APIError.internalFailure(error)
            }
        }
        v1.get("jobs") { request, context -> Response in
            let who = try context.agent()
            let q = request.uri.queryParameters
            let agent = who.admin ? q["agent"].map(String.init) : who.agent
            let list = (try? store.jobs(agent: agent, state: q["state"].map(String.init))) ?? []
            let progress = await jobs.progress()
            return try Self.json(
                JobList(
                    jobs: list.map { j in
                        var v = JobView(j)
                        v.progress = progress[j.id]
                        return v
                    }))
        }
        v1.get("jobs/:id") { _, context -> Response in
            let job = try await ownJob(context)
            var v = JobView(job)
            v.output = await jobs.output(job.id)
            return try Self.json(v)
        }
        v1.delete("jobs/:id") { _, context -> Response in
            let job = try await ownJob(context)
            let done = await jobs.cancel(job.id)
            return try Self.json(CancelAnswer(id: job.id, cancelled: done, state: done ? "cancelled" : job.state))
        }
        v1.post("jobs/:id/resume") { _, context -> Response in
            let job = try await ownJob(context)
            guard ["interrupted", "failed", "cancelled", "limit"].contains(job.state) else {
                throw APIError(
                    .conflict, "not_resumable", "job \(job.id) is \(job.state); only interrupted, failed, cancelled or limited jobs resume")
            }
            // A resume is a submission: the same per-agent budget (asking again for a job
            // already resumed costs one too, so the answer cannot be polled at will).
            try allowSubmission(try context.agent().agent)
            do {
                let (resumed, created) = try await jobs.resume(job)
                return try Self.json(JobView(resumed), status: created ? .created : .ok)
            } catch {
                throw APIError.internalFailure(error)
            }
        }
        v1.get("jobs/:id/events") { _, context -> Response in
            let job = try await ownJob(context)
            let stream = await jobs.events(job.id)
            return Response(
                status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                body: ResponseBody { writer in
                    for await line in stream { try await writer.write(ByteBuffer(string: "data: \(line)\n\n")) }
                    try await writer.finish(nil)
                })
        }
        v1.get("runs/:id/report") { _, context -> Response in
            let who = try context.agent()
            // The run is the caller's when the server's own record of one of the caller's jobs
            // names it (exact id): the server gave the job's worker that id.
            guard let id = context.parameters.get("id"), let owner = try? store.job(recording: id), who.admin || owner.agent == who.agent
            else {
                throw APIError(.notFound, "not_found", "no run of yours with that id")
            }
            guard let html = try? ReportBuilder.html(store: store, run: id) else {
                throw APIError(.notFound, "not_found", "no report for run \(id)")
            }
            return Self.html(html)
        }
    }

    /// Workers' admission: the server's orchestrator decides when each job's GPU task may run.
    private func workerRoutes(_ internalGroup: RouterGroup<ServerContext>) {
        let jobs = self.jobs
        internalGroup.post("admit") { request, context -> Response in
            let owner = try context.runningWorker()
            guard let leases = jobs.leases else { throw APIError.notAWorker }
            var req = request
            guard let body = try? await req.collectBody(upTo: 1 << 20),
                let ask = try? JSONDecoder().decode(AdmitRequest.self, from: Data(buffer: body))
            else {
                throw APIError.badRequest("bad_json", "expected {task, name, memory_mb}")
            }
            do {
                let granted = try await leases.admit(
                    job: owner.job, agent: owner.agent, task: ask.task, name: ask.name, memoryMB: ask.memoryMB)
                return try Self.json(AdmitAnswer(lease: granted.lease, allowanceBytes: granted.allowanceBytes))
            } catch {
                throw APIError(.forbidden, "refused", "\(error)")
            }
        }
        internalGroup.post("leases/:id/release") { _, context -> Response in
            _ = try context.runningWorker()
            guard let id = context.parameters.get("id"), let leases = jobs.leases else { throw APIError.notAWorker }
            return try Self.json(ReleasedAnswer(released: await leases.release(id)))
        }
        internalGroup.post("slice") { _, context -> Response in
            let owner = try context.runningWorker()
            guard let slices = jobs.slices else { throw APIError.notAWorker }
            return try Self.json(SliceAnswer(until: await slices.acquire(owner.agent)))
        }
        internalGroup.post("slice/release") { _, context -> Response in
            let owner = try context.runningWorker()
            guard let slices = jobs.slices else { throw APIError.notAWorker }
            await slices.release(owner.agent)
            return try Self.json(ReleasedAnswer(released: true))
        }
    }

    public func run() async throws {
        let requestTimeout = TimeAmount.nanoseconds(Int64(settings.requestTimeout * 1e9))
        let http = HTTP1Channel.Configuration(
            additionalChannelHandlers: [ConnectionGuard(requestTimeout: requestTimeout)],
            idleTimeout: .nanoseconds(Int64(settings.idleTimeout * 1e9)))
        let app = Application(
            router: router(), server: .http1(configuration: http),
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "gpuflow"),
            logger: Logger(label: "gpuflow.server"))
        try await app.runService()
    }
}

/// A token bucket per agent: `perMinute` submissions, refilled continuously.
final class RateLimiter: @unchecked Sendable {
    private let lock = NSLock()
    private var buckets: [String: (tokens: Double, at: Date)] = [:]
    func allow(_ agent: String, perMinute: Int) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        let now = Date(), cap = Double(perMinute)
        var b = buckets[agent] ?? (cap, now)
        b.tokens = min(cap, b.tokens + now.timeIntervalSince(b.at) * cap / 60)
        b.at = now
        guard b.tokens >= 1 else { buckets[agent] = b; return false }
        b.tokens -= 1
        buckets[agent] = b
        return true
    }
}
