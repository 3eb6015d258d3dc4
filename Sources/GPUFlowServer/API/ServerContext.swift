import Hummingbird
import Logging
import NIOCore

/// The request context of the job server: who is asking, once the middleware of the route's
/// group has checked. An agent (bearer token) on `/v1`, a job's worker (X-Job-Token) on
/// `/internal`; handlers read the identity here instead of checking tokens themselves.
struct ServerContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// The agent of the bearer token, set by `AgentAuthMiddleware`.
    var identity: Tokens.Identity?
    /// The job and agent a worker runs for, set by `WorkerAuthMiddleware`.
    var worker: (job: String, agent: String)?

    init(source: Source) {
        coreContext = .init(source: source)
    }

    /// The identity the agent middleware set: its routes are never reached without one.
    func agent() throws -> Tokens.Identity {
        guard let identity else { throw APIError.unauthorized }
        return identity
    }

    func runningWorker() throws -> (job: String, agent: String) {
        guard let worker else { throw APIError.notAWorker }
        return worker
    }
}

/// Every `/v1` route needs an agent's bearer token.
struct AgentAuthMiddleware: RouterMiddleware {
    let tokens: Tokens

    func handle(
        _ request: Request, context: ServerContext, next: (Request, ServerContext) async throws -> Response
    ) async throws -> Response {
        guard let who = tokens.identify(request.headers[.authorization]) else { throw APIError.unauthorized }
        var context = context
        context.identity = who
        return try await next(request, context)
    }
}

/// Every `/internal` route is a running job's worker, known by the secret the server gave it.
struct WorkerAuthMiddleware: RouterMiddleware {
    let jobs: JobManager

    func handle(
        _ request: Request, context: ServerContext, next: (Request, ServerContext) async throws -> Response
    ) async throws -> Response {
        guard let secret = JobServer.jobToken(request), let owner = await jobs.jobFor(token: secret) else {
            throw APIError.notAWorker
        }
        var context = context
        context.worker = owner
        return try await next(request, context)
    }
}
