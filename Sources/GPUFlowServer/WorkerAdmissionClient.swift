import Foundation
import GPUFlowCore
import GPUFlowML

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The worker's side of the job server's admission: before each GPU task, ask the server's
/// orchestrator (long-polling until it admits the task), and give the lease back after.
/// Configured by the server through GPUFLOW_ADMISSION_URL and GPUFLOW_ADMISSION_TOKEN.
public struct ServerAdmission: AdmissionControl {
    let base: URL
    let token: String

    public init(base: URL, token: String) {
        self.base = base
        self.token = token
    }

    public static func fromEnvironment() -> ServerAdmission? {
        let env = ProcessInfo.processInfo.environment
        guard let u = env["GPUFLOW_ADMISSION_URL"].flatMap(URL.init(string:)), let t = env["GPUFLOW_ADMISSION_TOKEN"] else { return nil }
        return ServerAdmission(base: u, token: t)
    }

    struct Refused: Error, CustomStringConvertible {
        let message: String
        var description: String { "the job server refused the task: \(message)" }
    }

    private func post<Answer: Decodable>(_ path: String, _ body: Data?, as: Answer.Type) async throws -> Answer {
        var r = URLRequest(url: base.appendingPathComponent(path))
        r.httpMethod = "POST"
        r.timeoutInterval = 24 * 3600  // admission may wait as long as the queue ahead of it
        r.setValue(token, forHTTPHeaderField: "X-Job-Token")
        r.httpBody = body
        let (data, response) = try await URLSession.shared.data(for: r)
        guard (response as? HTTPURLResponse)?.statusCode == 200 else {
            let error = (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["error"] as? [String: Any]
            throw Refused(message: error?["message"] as? String ?? String(decoding: data, as: UTF8.self))
        }
        guard let answer = try? JSONDecoder().decode(Answer.self, from: data) else {
            throw Refused(message: "an answer of an unexpected shape: \(String(decoding: data.prefix(200), as: UTF8.self))")
        }
        return answer
    }

    public func acquire(_ task: GPUTaskType, name: String, agent: String?, memoryMB: Int) async throws -> (
        lease: String, allowanceBytes: Int?
    ) {
        let body = try JSONEncoder().encode(AdmitRequest(task: task, name: name, memoryMB: memoryMB))
        let answer = try await post("admit", body, as: AdmitAnswer.self)
        return (answer.lease, answer.allowanceBytes)
    }

    public func release(_ lease: String) async {
        _ = try? await post("leases/\(lease)/release", nil, as: ReleasedAnswer.self)
    }
}

/// The worker's side of the job server's time slices: a step runs at once while the agent's
/// grant lasts; when it has run out, one request waits for the next grant.
public final class ServerSlices: SliceControl, @unchecked Sendable {
    let base: URL
    let token: String
    private let lock = NSLock()
    private var expiry: [String: Double] = [:]

    public init(base: URL, token: String) {
        self.base = base
        self.token = token
    }

    public static func fromEnvironment() -> ServerSlices? {
        let env = ProcessInfo.processInfo.environment
        guard env["GPUFLOW_SLICES"] == "1", let u = env["GPUFLOW_ADMISSION_URL"].flatMap(URL.init(string:)),
            let t = env["GPUFLOW_ADMISSION_TOKEN"]
        else { return nil }
        return ServerSlices(base: u, token: t)
    }

    private func post<Answer: Decodable>(_ path: String, as: Answer.Type) -> Answer? {
        var r = URLRequest(url: base.appendingPathComponent(path))
        r.httpMethod = "POST"
        r.timeoutInterval = 3600
        r.setValue(token, forHTTPHeaderField: "X-Job-Token")
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var body: Data?
        URLSession.shared.dataTask(with: r) { d, _, _ in
            body = d
            done.signal()
        }.resume()
        done.wait()
        return body.flatMap { try? JSONDecoder().decode(Answer.self, from: $0) }
    }

    public func ensure(agent: String) throws {
        lock.lock()
        let until = expiry[agent] ?? 0
        lock.unlock()
        if Date().timeIntervalSince1970 < until { return }
        guard let granted = post("slice", as: SliceAnswer.self)?.until else {
            throw ServerAdmission.Refused(message: "no time slice from the job server")
        }
        lock.lock()
        expiry[agent] = granted
        lock.unlock()
    }

    public func release(agent: String) {
        lock.lock()
        expiry[agent] = 0
        lock.unlock()
        _ = post("slice/release", as: ReleasedAnswer.self)
    }
}
