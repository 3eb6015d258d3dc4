import Foundation
import GPUFlowStore
import HTTPTypes
import Hummingbird
import NIOCore

/// An error answer of the API, in its one JSON shape: `{"error": {"code", "message"}}`.
/// Handlers and middleware throw it; Hummingbird renders it through `response(from:context:)`.
struct APIError: Error, HTTPResponseError {
    let status: HTTPResponse.Status
    let code: String
    let message: String
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, _ code: String, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var r = JobServer.error(status, code, message)
        for field in headers { r.headers[field.name] = field.value }
        return r
    }

    static let unauthorized = APIError(.unauthorized, "unauthorized", "a valid 'Authorization: Bearer TOKEN' header is required")
    static let notAWorker = APIError(.unauthorized, "unauthorized", "not a running job's worker")
    static let noSuchJob = APIError(.notFound, "not_found", "no such job")

    /// 413, closing the connection after it (the body is never read).
    static func tooLarge(_ limit: Int) -> APIError {
        APIError(.contentTooLarge, "too_large", "the request is over \(limit) bytes", headers: [.connection: "close"])
    }

    static func rateLimited(_ agent: String, perMinute: Int) -> APIError {
        APIError(.tooManyRequests, "rate_limited", "agent \(agent) is over \(perMinute) submissions and resumes a minute")
    }

    static func badRequest(_ code: String, _ message: String) -> APIError { APIError(.badRequest, code, message) }

    /// A failure of the server itself: the store's, or anything else's.
    static func internalFailure(_ error: Error) -> APIError {
        error is StoreError
            ? APIError(.internalServerError, "store", "\(error)") : APIError(.internalServerError, "internal", "\(error)")
    }
}
