import Foundation
import GPUFlowCore
import GPUFlowStore
import NIOCore

/// `POST /v1/jobs`: the Lua text of a job, its arguments, and (for an admin) the agent it runs
/// as. Each wrong field is refused with its own code, as openapi.yaml documents.
struct SubmitRequest: Decodable {
    let script: String
    let arguments: [String]
    let agent: String?

    private enum Key: String, CodingKey { case script, arguments, agent }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        guard let script = try? c.decodeIfPresent(String.self, forKey: .script), !script.isEmpty else {
            throw APIError.badRequest("missing_script", "'script' (the Lua text of the job) is required")
        }
        var arguments: [String] = []
        if c.contains(.arguments) {
            guard let a = try? c.decode([String].self, forKey: .arguments) else {
                throw APIError.badRequest("bad_arguments", "'arguments' must be a list of strings")
            }
            arguments = a
        }
        // Arguments reach the worker on its command line, where a NUL would cut one short.
        if arguments.contains(where: { $0.utf8.contains(0) }) {
            throw APIError.badRequest("bad_arguments", "'arguments' cannot hold NUL characters")
        }
        if let problem = ScriptArgumentLimits.problem(arguments) { throw APIError.badRequest("bad_arguments", problem) }
        var agent: String?
        if c.contains(.agent) {
            guard let a = try? c.decode(String.self, forKey: .agent) else {
                throw APIError.badRequest("bad_agent", "'agent' must be a string (an agent's name)")
            }
            agent = a
        }
        self.script = script
        self.arguments = arguments
        self.agent = agent
    }

    static func decode(_ body: ByteBuffer) throws -> SubmitRequest {
        do {
            return try JSONDecoder().decode(SubmitRequest.self, from: Data(buffer: body))
        } catch let e as APIError {
            throw e
        } catch {
            throw APIError.badRequest("bad_json", "the body must be a JSON object {\"script\": \"...\", \"arguments\": [...]}")
        }
    }
}

/// A job as the API shows it (openapi.yaml's Job).
struct JobView: Encodable {
    let id: String
    let agent: String
    let state: String
    let arguments: [String]
    let createdAt: Double
    let startedAt: Double?
    let endedAt: Double?
    let exitCode: Int?
    let runID: String?
    let report: String?
    let reason: String?
    var output: String?
    var progress: String?

    init(_ j: RunStore.Job) {
        id = j.id
        agent = j.agent
        state = j.state
        arguments = j.arguments
        createdAt = j.createdAt
        startedAt = j.startedAt
        endedAt = j.endedAt
        exitCode = j.exitCode
        runID = j.runID
        report = j.runID.map { "/v1/runs/\($0)/report" }
        reason = j.reason
    }

    private enum CodingKeys: String, CodingKey {
        case id, agent, state, arguments, output, progress, report, reason
        case createdAt = "created_at", startedAt = "started_at", endedAt = "ended_at", exitCode = "exit_code"
        case runID = "run_id"
    }
}

struct JobList: Encodable { let jobs: [JobView] }

struct CancelAnswer: Encodable {
    let id: String
    let cancelled: Bool
    let state: String
}

struct HealthAnswer: Encodable { let status: String }

/// Every error answer: `{"error": {"code", "message"}}`.
struct ErrorBody: Encodable {
    struct Detail: Encodable {
        let code: String
        let message: String
    }
    let error: Detail
}

/// The internal API between the server and its workers: both ends are in this module, so the
/// shapes are declared once. A worker asks admission for each GPU task and releases the lease;
/// under time slicing it asks for a slice of the device.
struct AdmitRequest: Codable {
    let task: GPUTaskType
    let name: String
    let memoryMB: Int

    private enum CodingKeys: String, CodingKey {
        case task, name
        case memoryMB = "memory_mb"
    }
}

struct AdmitAnswer: Codable {
    let lease: String
    let allowanceBytes: Int?

    private enum CodingKeys: String, CodingKey {
        case lease
        case allowanceBytes = "allowance_bytes"
    }
}

struct SliceAnswer: Codable { let until: Double }

struct ReleasedAnswer: Codable { let released: Bool }
