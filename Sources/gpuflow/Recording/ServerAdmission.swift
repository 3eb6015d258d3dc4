import Foundation
import GPUFlowCore
import GPUFlowML

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The worker's side of the job server's admission: before each GPU task, ask the server's
/// orchestrator (long-polling until it admits the task), and give the lease back after.
/// Configured by the server through GPUFLOW_ADMISSION_URL and GPUFLOW_ADMISSION_TOKEN.
struct ServerAdmission: AdmissionControl {
    let base: URL
    let token: String

    static func fromEnvironment() -> ServerAdmission? {
        let env = ProcessInfo.processInfo.environment
        guard let u = env["GPUFLOW_ADMISSION_URL"].flatMap(URL.init(string:)), let t = env["GPUFLOW_ADMISSION_TOKEN"] else { return nil }
        return ServerAdmission(base: u, token: t)
    }

    struct Refused: Error, CustomStringConvertible {
        let message: String
        var description: String { "the job server refused the task: \(message)" }
    }

    private func post(_ path: String, _ body: Data?) async throws -> [String: Any] {
        var r = URLRequest(url: base.appendingPathComponent(path))
        r.httpMethod = "POST"
        r.timeoutInterval = 24 * 3600  // admission may wait as long as the queue ahead of it
        r.setValue(token, forHTTPHeaderField: "X-Job-Token")
        r.httpBody = body
        let (data, response) = try await URLSession.shared.data(for: r)
        let o = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        guard (response as? HTTPURLResponse)?.statusCode == 200 else {
            throw Refused(message: ((o["error"] as? [String: Any])?["message"] as? String) ?? String(decoding: data, as: UTF8.self))
        }
        return o
    }

    func acquire(_ task: GPUTaskType, name: String, agent: String?, memoryMB: Int) async throws -> (lease: String, allowanceBytes: Int?) {
        let body = try JSONSerialization.data(
            withJSONObject: [
                "task": String(decoding: try JSONEncoder().encode(task), as: UTF8.self), "name": name, "memory_mb": memoryMB,
            ] as [String: Any])
        let answer = try await post("admit", body)
        guard let lease = answer["lease"] as? String else { throw Refused(message: "no lease in the answer") }
        return (lease, answer["allowance_bytes"] as? Int)
    }

    func release(_ lease: String) async {
        _ = try? await post("leases/\(lease)/release", nil)
    }
}

/// The worker's side of the job server's time slices: a step runs at once while the agent's
/// grant lasts; when it has run out, one request waits for the next grant.
final class ServerSlices: SliceControl, @unchecked Sendable {
    let base: URL
    let token: String
    private let lock = NSLock()
    private var expiry: [String: Double] = [:]

    init(base: URL, token: String) {
        self.base = base
        self.token = token
    }

    static func fromEnvironment() -> ServerSlices? {
        let env = ProcessInfo.processInfo.environment
        guard env["GPUFLOW_SLICES"] == "1", let u = env["GPUFLOW_ADMISSION_URL"].flatMap(URL.init(string:)),
            let t = env["GPUFLOW_ADMISSION_TOKEN"]
        else { return nil }
        return ServerSlices(base: u, token: t)
    }

    private func post(_ path: String) -> [String: Any]? {
        var r = URLRequest(url: base.appendingPathComponent(path))
        r.httpMethod = "POST"
        r.timeoutInterval = 3600
        r.setValue(token, forHTTPHeaderField: "X-Job-Token")
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var body: Data?
        URLSession.shared.dataTask(with: r) { d, _, _ in
            body = d; done.signal()
        }.resume()
        done.wait()
        return body.flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
    }

    func ensure(agent: String) throws {
        lock.lock()
        let until = expiry[agent] ?? 0
        lock.unlock()
        if Date().timeIntervalSince1970 < until { return }
        guard let granted = post("slice")?["until"] as? Double else {
            throw ServerAdmission.Refused(message: "no time slice from the job server")
        }
        lock.lock()
        expiry[agent] = granted
        lock.unlock()
    }

    func release(agent: String) {
        lock.lock()
        expiry[agent] = 0
        lock.unlock()
        _ = post("slice/release")
    }
}
