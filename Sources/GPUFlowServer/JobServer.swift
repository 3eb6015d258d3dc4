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

    static func json(_ object: Any, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func error(_ status: HTTPResponse.Status, _ code: String, _ message: String) -> Response {
        json(["error": ["code": code, "message": message]], status: status)
    }

    /// 413, closing the connection after it (the body is never read).
    static func tooLarge(_ limit: Int) -> Response {
        var r = error(.contentTooLarge, "too_large", "the request is over \(limit) bytes")
        r.headers[.connection] = "close"
        return r
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

    static func jobValue(_ j: RunStore.Job) -> [String: Any] {
        var o: [String: Any] = ["id": j.id, "agent": j.agent, "state": j.state, "arguments": j.arguments, "created_at": j.createdAt]
        if let v = j.startedAt { o["started_at"] = v }
        if let v = j.endedAt { o["ended_at"] = v }
        if let v = j.exitCode { o["exit_code"] = v }
        if let v = j.runID { o["run_id"] = v; o["report"] = "/v1/runs/\(v)/report" }
        if let v = j.reason { o["reason"] = v }
        return o
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: APIErrorMiddleware())
        router.add(middleware: BodyLimitMiddleware(limit: Self.bodyLimit(settings)))
        let tokens = self.tokens, jobs = self.jobs, store = self.store, settings = self.settings, limiter = self.limiter
        @Sendable func identify(_ r: Request) -> Tokens.Identity? { tokens.identify(r.headers[.authorization]) }
        let unauthorized = Self.error(.unauthorized, "unauthorized", "a valid 'Authorization: Bearer TOKEN' header is required")
        @Sendable func rateLimited(_ agent: String) -> Response {
            Self.error(
                .tooManyRequests, "rate_limited", "agent \(agent) is over \(settings.submissionsPerMinute) submissions and resumes a minute"
            )
        }
        @Sendable func failure(_ error: Error) -> Response {
            error is StoreError
                ? Self.error(.internalServerError, "store", "\(error)") : Self.error(.internalServerError, "internal", "\(error)")
        }

        router.get("healthz") { _, _ in Self.json(["status": "ok"]) }
        router.get("/") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: Dashboard.html)))
        }
        router.get("metrics") { _, _ -> Response in
            let slices = await jobs.slices?.handovers()
            let text = ServerMetrics.text(await jobs.stats(), slices: slices)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        router.post("v1/jobs") { request, _ -> Response in
            guard let who = identify(request) else { return unauthorized }
            guard limiter.allow(who.agent, perMinute: settings.submissionsPerMinute) else { return rateLimited(who.agent) }
            var req = request
            let body: ByteBuffer
            do { body = try await req.collectBody(upTo: settings.maxBodyBytes) } catch { return Self.tooLarge(settings.maxBodyBytes) }
            guard let o = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any] else {
                return Self.error(.badRequest, "bad_json", "the body must be a JSON object {\"script\": \"...\", \"arguments\": [...]}")
            }
            guard let script = o["script"] as? String, !script.isEmpty else {
                return Self.error(.badRequest, "missing_script", "'script' (the Lua text of the job) is required")
            }
            let args = o["arguments"] as? [String] ?? []
            if o["arguments"] != nil && o["arguments"] as? [String] == nil {
                return Self.error(.badRequest, "bad_arguments", "'arguments' must be a list of strings")
            }
            // Arguments reach the worker on its command line, where a NUL would cut one short.
            if args.contains(where: { $0.utf8.contains(0) }) {
                return Self.error(.badRequest, "bad_arguments", "'arguments' cannot hold NUL characters")
            }
            if let problem = ScriptArgumentLimits.problem(args) {
                return Self.error(.badRequest, "bad_arguments", problem)
            }
            if o["agent"] != nil && o["agent"] as? String == nil {
                return Self.error(.badRequest, "bad_agent", "'agent' must be a string (an agent's name)")
            }
            let agent = (o["agent"] as? String) ?? who.agent
            guard agent == who.agent || who.admin else {
                return Self.error(.forbidden, "forbidden", "agent \(who.agent) cannot submit as \(agent)")
            }
            guard !agent.isEmpty, !agent.utf8.contains(0) else {
                return Self.error(.badRequest, "bad_agent", "'agent' must name an agent (not empty, no NUL characters)")
            }
            do {
                let job = try await jobs.submit(agent: agent, script: script, arguments: args)
                return Self.json(Self.jobValue(job), status: .created)
            } catch {
                return failure(error)
            }
        }
        router.get("v1/jobs") { request, _ -> Response in
            guard let who = identify(request) else { return unauthorized }
            let q = request.uri.queryParameters
            let agent = who.admin ? q["agent"].map(String.init) : who.agent
            let list = (try? store.jobs(agent: agent, state: q["state"].map(String.init))) ?? []
            let progress = await jobs.progress()
            return Self.json([
                "jobs": list.map { j -> [String: Any] in
                    var v = Self.jobValue(j)
                    if let p = progress[j.id] { v["progress"] = p }
                    return v
                }
            ])
        }
        // Another agent's job is not even named: it answers as a job that does not exist.
        @Sendable func ownJob(_ who: Tokens.Identity, _ context: BasicRequestContext) async -> RunStore.Job? {
            guard let id = context.parameters.get("id"), let job = await jobs.job(id), who.admin || job.agent == who.agent else {
                return nil
            }
            return job
        }
        let noSuchJob = Self.error(.notFound, "not_found", "no such job")
        router.get("v1/jobs/:id") { request, context -> Response in
            guard let who = identify(request) else { return unauthorized }
            guard let job = await ownJob(who, context) else { return noSuchJob }
            var v = Self.jobValue(job)
            v["output"] = await jobs.output(job.id)
            return Self.json(v)
        }
        router.delete("v1/jobs/:id") { request, context -> Response in
            guard let who = identify(request) else { return unauthorized }
            guard let job = await ownJob(who, context) else { return noSuchJob }
            let done = await jobs.cancel(job.id)
            return Self.json(["id": job.id, "cancelled": done, "state": done ? "cancelled" : job.state])
        }
        router.post("v1/jobs/:id/resume") { request, context -> Response in
            guard let who = identify(request) else { return unauthorized }
            guard let job = await ownJob(who, context) else { return noSuchJob }
            guard ["interrupted", "failed", "cancelled", "limit"].contains(job.state) else {
                return Self.error(
                    .conflict, "not_resumable", "job \(job.id) is \(job.state); only interrupted, failed, cancelled or limited jobs resume")
            }
            // A resume is a submission: the same per-agent budget (asking again for a job
            // already resumed costs one too, so the answer cannot be polled at will).
            guard limiter.allow(who.agent, perMinute: settings.submissionsPerMinute) else { return rateLimited(who.agent) }
            do {
                let (resumed, created) = try await jobs.resume(job)
                return Self.json(Self.jobValue(resumed), status: created ? .created : .ok)
            } catch {
                return failure(error)
            }
        }
        router.get("v1/jobs/:id/events") { request, context -> Response in
            guard let who = identify(request) else { return unauthorized }
            guard let job = await ownJob(who, context) else { return noSuchJob }
            let id = job.id
            let stream = await jobs.events(id)
            return Response(
                status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                body: ResponseBody { writer in
                    for await line in stream { try await writer.write(ByteBuffer(string: "data: \(line)\n\n")) }
                    try await writer.finish(nil)
                })
        }
        // Workers' admission: the server's orchestrator decides when each job's GPU task may run.
        router.post("internal/admit") { request, _ -> Response in
            guard let secret = Self.jobToken(request), let owner = await jobs.jobFor(token: secret),
                let leases = jobs.leases
            else {
                return Self.error(.unauthorized, "unauthorized", "not a running job's worker")
            }
            var req = request
            guard let body = try? await req.collectBody(upTo: 1 << 20),
                let o = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any],
                let taskJSON = o["task"] as? String, let task = try? JSONDecoder().decode(GPUTaskType.self, from: Data(taskJSON.utf8))
            else {
                return Self.error(.badRequest, "bad_json", "expected {task, name, memory_mb}")
            }
            do {
                let granted = try await leases.admit(
                    job: owner.job, agent: owner.agent, task: task, name: o["name"] as? String ?? task.name,
                    memoryMB: o["memory_mb"] as? Int ?? 0)
                var answer: [String: Any] = ["lease": granted.lease]
                if let a = granted.allowanceBytes { answer["allowance_bytes"] = a }
                return Self.json(answer)
            } catch {
                return Self.error(.forbidden, "refused", "\(error)")
            }
        }
        router.post("internal/leases/:id/release") { request, context -> Response in
            guard let secret = Self.jobToken(request), await jobs.jobFor(token: secret) != nil,
                let id = context.parameters.get("id"), let leases = jobs.leases
            else {
                return Self.error(.unauthorized, "unauthorized", "not a running job's worker")
            }
            return Self.json(["released": await leases.release(id)])
        }
        router.post("internal/slice") { request, _ -> Response in
            guard let secret = Self.jobToken(request), let owner = await jobs.jobFor(token: secret),
                let slices = jobs.slices
            else {
                return Self.error(.unauthorized, "unauthorized", "not a running job's worker")
            }
            return Self.json(["until": await slices.acquire(owner.agent)])
        }
        router.post("internal/slice/release") { request, _ -> Response in
            guard let secret = Self.jobToken(request), let owner = await jobs.jobFor(token: secret),
                let slices = jobs.slices
            else {
                return Self.error(.unauthorized, "unauthorized", "not a running job's worker")
            }
            await slices.release(owner.agent)
            return Self.json(["released": true])
        }
        router.get("v1/runs/:id/report") { request, context -> Response in
            guard let who = identify(request) else { return unauthorized }
            // The run is the caller's when the server's own record of one of the caller's jobs
            // names it (exact id): the server gave the job's worker that id.
            guard let id = context.parameters.get("id"), let owner = try? store.job(recording: id), who.admin || owner.agent == who.agent
            else {
                return Self.error(.notFound, "not_found", "no run of yours with that id")
            }
            guard let html = try? ReportBuilder.html(store: store, run: id) else {
                return Self.error(.notFound, "not_found", "no report for run \(id)")
            }
            return Response(
                status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: html)))
        }
        return router
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
