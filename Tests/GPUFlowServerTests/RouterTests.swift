import Foundation
import GPUFlowStore
import GPUFlowTesting
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import GPUFlowServer

/// The router in process, through HummingbirdTesting: the token middleware of each route
/// group, the one JSON error shape, the codes of each bad field, 405 with `Allow`.
@Suite struct RouterTests {
    private static let aliceToken = "alice-secret-token", bobToken = "bob-secret-token"

    private func app() throws -> some ApplicationProtocol {
        let dir = try TestPaths.temporaryDirectory()
        let storePath = dir.appendingPathComponent("runs.sqlite").path
        let store = try RunStore(path: storePath)
        let tokens = Tokens(byHash: [
            ContentHash.of(Self.aliceToken): .init(agent: "alice", admin: false),
            ContentHash.of(Self.bobToken): .init(agent: "bob", admin: false),
        ])
        // The worker binary exits at once: these tests are about the API, not the jobs.
        let jobs = try JobManager(
            settings: .init(binary: "/bin/true", storePath: storePath, profilePath: nil, maxRunning: 1), store: store)
        var settings = JobServer.Settings()
        settings.maxBodyBytes = 4096
        return Application(router: JobServer(settings: settings, tokens: tokens, jobs: jobs, store: store).router())
    }

    private func error(_ body: ByteBuffer) -> (code: String, message: String)? {
        guard let o = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any],
            let e = o["error"] as? [String: Any], let code = e["code"] as? String, let message = e["message"] as? String
        else { return nil }
        return (code, message)
    }

    private func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)", .contentType: "application/json"] }

    @Test func everyV1RouteNeedsAnAgentsToken() async throws {
        try await app().test(.router) { client in
            for (method, path) in [
                (HTTPRequest.Method.get, "/v1/jobs"), (.post, "/v1/jobs"), (.get, "/v1/jobs/j1"), (.delete, "/v1/jobs/j1"),
                (.post, "/v1/jobs/j1/resume"), (.get, "/v1/jobs/j1/events"), (.get, "/v1/runs/r1/report"),
            ] {
                for headers: HTTPFields in [[:], [.authorization: "Bearer wrong"], [.authorization: "Basic \(Self.aliceToken)"]] {
                    try await client.execute(uri: path, method: method, headers: headers) { r in
                        #expect(r.status == .unauthorized, "\(method) \(path)")
                        #expect(error(r.body)?.code == "unauthorized", "\(method) \(path)")
                    }
                }
            }
        }
    }

    @Test func everyInternalRouteNeedsARunningWorkersSecret() async throws {
        try await app().test(.router) { client in
            for path in ["/internal/admit", "/internal/leases/l1/release", "/internal/slice", "/internal/slice/release"] {
                // An agent's bearer token is not a worker's secret.
                for headers: HTTPFields in [[:], bearer(Self.aliceToken), [HTTPField.Name("X-Job-Token")!: "guess"]] {
                    try await client.execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: "{}")) { r in
                        #expect(r.status == .unauthorized && error(r.body)?.message == "not a running job's worker", "\(path)")
                    }
                }
            }
        }
    }

    @Test func eachBadFieldOfASubmissionHasItsCode() async throws {
        let cases: [(String, HTTPResponse.Status, String)] = [
            ("not json", .badRequest, "bad_json"), ("[1, 2]", .badRequest, "bad_json"), ("{}", .badRequest, "missing_script"),
            (#"{"script": 5}"#, .badRequest, "missing_script"), (#"{"script": ""}"#, .badRequest, "missing_script"),
            (#"{"script": "print(1)", "arguments": "x"}"#, .badRequest, "bad_arguments"),
            (#"{"script": "print(1)", "arguments": [1]}"#, .badRequest, "bad_arguments"),
            (#"{"script": "print(1)", "arguments": null}"#, .badRequest, "bad_arguments"),
            (#"{"script": "print(1)", "arguments": ["a\u0000b"]}"#, .badRequest, "bad_arguments"),
            (#"{"script": "print(1)", "agent": 7}"#, .badRequest, "bad_agent"),
            (#"{"script": "print(1)", "agent": "bob"}"#, .forbidden, "forbidden"),
        ]
        try await app().test(.router) { client in
            for (body, status, code) in cases {
                try await client.execute(uri: "/v1/jobs", method: .post, headers: bearer(Self.aliceToken), body: ByteBuffer(string: body)) {
                    r in
                    #expect(r.status == status, "\(body)")
                    #expect(error(r.body)?.code == code, "\(body): \(String(buffer: r.body))")
                }
            }
        }
    }

    @Test func aGoodSubmissionAnswersTheJobAndOnlyItsAgentSeesIt() async throws {
        try await app().test(.router) { client in
            let id = try await client.execute(
                uri: "/v1/jobs", method: .post, headers: bearer(Self.aliceToken),
                body: ByteBuffer(string: #"{"script": "print(1)", "arguments": ["--x", "1"]}"#)
            ) { r -> String in
                #expect(r.status == .created)
                let o = try JSONSerialization.jsonObject(with: Data(buffer: r.body)) as? [String: Any]
                #expect(o?["agent"] as? String == "alice" && o?["arguments"] as? [String] == ["--x", "1"])
                #expect(o?["created_at"] is Double && o?["state"] is String)
                return o?["id"] as? String ?? ""
            }
            #expect(id.hasPrefix("j"))
            try await client.execute(uri: "/v1/jobs/\(id)", method: .get, headers: bearer(Self.aliceToken)) { r in
                #expect(r.status == .ok)
            }
            // Another agent's job answers as one that does not exist.
            try await client.execute(uri: "/v1/jobs/\(id)", method: .get, headers: bearer(Self.bobToken)) { r in
                #expect(r.status == .notFound && error(r.body)?.code == "not_found")
            }
            try await client.execute(uri: "/v1/jobs", method: .get, headers: bearer(Self.bobToken)) { r in
                let o = try JSONSerialization.jsonObject(with: Data(buffer: r.body)) as? [String: Any]
                #expect((o?["jobs"] as? [Any])?.isEmpty == true)
            }
        }
    }

    @Test func theRoutersOwnErrorsHaveTheSameShape() async throws {
        try await app().test(.router) { client in
            try await client.execute(uri: "/v1/jobs", method: .put, headers: bearer(Self.aliceToken)) { r in
                #expect(r.status == .methodNotAllowed && error(r.body)?.code == "method_not_allowed")
                #expect(r.headers[.allow] == "GET, POST")
            }
            try await client.execute(uri: "/v2/nothing", method: .get) { r in
                #expect(r.status == .notFound && error(r.body)?.code == "not_found")
            }
            var headers = bearer(Self.aliceToken)
            headers[.contentLength] = "999999"
            try await client.execute(uri: "/v1/jobs", method: .post, headers: headers) { r in
                #expect(r.status == .contentTooLarge && error(r.body)?.code == "too_large")
                #expect(r.headers[.connection] == "close")
            }
            try await client.execute(uri: "/healthz", method: .get) { r in
                #expect(r.status == .ok && String(buffer: r.body) == #"{"status":"ok"}"#)
            }
        }
    }
}
