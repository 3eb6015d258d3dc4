import Foundation
import HTTPTypes
import Hummingbird

extension JobServer {
    /// The routes and their methods, for the 405 (and its `Allow`) a known path answers to a
    /// method it does not serve. `:x` matches any one path segment.
    static let routes: [(path: String, methods: [HTTPRequest.Method])] = [
        ("/", [.get]), ("/healthz", [.get]), ("/metrics", [.get]),
        ("/v1/jobs", [.get, .post]), ("/v1/jobs/:id", [.get, .delete]), ("/v1/jobs/:id/resume", [.post]),
        ("/v1/jobs/:id/events", [.get]), ("/v1/runs/:id/report", [.get]),
        ("/internal/admit", [.post]), ("/internal/leases/:id/release", [.post]), ("/internal/slice", [.post]),
        ("/internal/slice/release", [.post]),
    ]

    static func methods(for path: String) -> [HTTPRequest.Method] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        for route in routes {
            let pattern = route.path.split(separator: "/", omittingEmptySubsequences: true)
            guard pattern.count == segments.count else { continue }
            if zip(pattern, segments).allSatisfy({ $0.hasPrefix(":") || $0 == $1 }) { return route.methods }
        }
        return []
    }
}

/// Every error answer has the API's one JSON shape, the router's own too: an unknown route is
/// a 404 `not_found`, a known path with another method a 405 `method_not_allowed` with `Allow`.
struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return try error.response(from: request, context: context)
        } catch let error as any HTTPResponseError {
            if error.status == .notFound {
                let allowed = JobServer.methods(for: request.uri.path)
                if !allowed.isEmpty {
                    var response = JobServer.error(
                        .methodNotAllowed, "method_not_allowed",
                        "\(request.uri.path) takes \(allowed.map(\.rawValue).joined(separator: ", ")), not \(request.method.rawValue)")
                    response.headers[.allow] = allowed.map(\.rawValue).joined(separator: ", ")
                    return response
                }
                return JobServer.error(.notFound, "not_found", "no route \(request.method.rawValue) \(request.uri.path)")
            }
            let code: String
            switch error.status.code {
            case 400: code = "bad_request"
            case 413: code = "too_large"
            case 500...: code = "internal"
            default: code = "http_\(error.status.code)"
            }
            return JobServer.error(error.status, code, error.status.reasonPhrase)
        }
    }
}

/// A request that declares a body over the limit is refused at once, before a byte of the body
/// is read, and its connection closes after the answer (`ConnectionGuard`). Bodies without a
/// declared length are bounded where they are collected.
struct BodyLimitMiddleware<Context: RequestContext>: RouterMiddleware {
    let limit: @Sendable (String) -> Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let max = limit(request.uri.path)
        if let declared = request.headers[.contentLength], Int(declared).map({ $0 > max }) ?? true {
            throw APIError.tooLarge(max)
        }
        return try await next(request, context)
    }
}
