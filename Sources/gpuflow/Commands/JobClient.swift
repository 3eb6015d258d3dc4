import Foundation
import GPUFlowCore
import GPUFlowStore

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The `gpuflow job` commands' side of the job server's HTTP API (openapi.yaml): the server's
/// address and the agent's token, read once, and synchronous calls that turn the server's
/// JSON error shape into a message with the server's code.
struct JobClient {
    let base: String
    let token: String

    struct Failure: Error, CustomStringConvertible {
        let status: Int
        let code: String
        let message: String
        /// 404 and 403 are the caller's mistakes (exit 2), like a bad argument.
        var description: String { "the job server answered \(status) \(code): \(message)" }
    }

    /// `--server` (or GPUFLOW_SERVER), `--token-file` (or GPUFLOW_TOKEN); an error naming what
    /// is missing otherwise.
    static func make(server: String?, tokenFile: String?, errors: JSONErrors) -> JobClient {
        let env = ProcessInfo.processInfo.environment
        guard let s = server ?? env["GPUFLOW_SERVER"], let u = URL(string: s), ["http", "https"].contains(u.scheme ?? "") else {
            errors.fail("give the job server as --server http://HOST:PORT (or GPUFLOW_SERVER)", kind: .input)
        }
        var token = env["GPUFLOW_TOKEN"]
        if let tokenFile {
            guard let t = try? String(contentsOfFile: tokenFile, encoding: .utf8) else {
                errors.fail("--token-file \(tokenFile): cannot read it", kind: .input)
            }
            token = t
        }
        guard let t = token?.trimmingCharacters(in: .whitespacesAndNewlines), !t.isEmpty else {
            errors.fail("give the agent's token with --token-file FILE (or GPUFLOW_TOKEN)", kind: .input)
        }
        return JobClient(base: s.hasSuffix("/") ? String(s.dropLast()) : s, token: t)
    }

    /// One request; the answer's body (2xx), else a Failure with the server's code.
    func call(_ method: String, _ path: String, json: Any? = nil) throws -> Data {
        guard let url = URL(string: base + path) else { throw Failure(status: 0, code: "bad_url", message: base + path) }
        let r = try BlockingHTTP.request(url, method: method, bearer: token, json: json)
        let status: Int, data: Data
        do { (status, data) = try BlockingHTTP.send(r) } catch {
            throw Failure(status: 0, code: "unreachable", message: "\(base): \(error.localizedDescription)")
        }
        guard (200..<300).contains(status) else {
            let error = (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["error"] as? [String: Any]
            throw Failure(
                status: status, code: error?["code"] as? String ?? "error",
                message: error?["message"] as? String ?? String(decoding: data.prefix(300), as: UTF8.self))
        }
        return data
    }

    func object(_ method: String, _ path: String, json: Any? = nil) throws -> [String: Any] {
        let data = try call(method, path, json: json)
        guard let o = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw Failure(status: 200, code: "bad_answer", message: String(decoding: data.prefix(300), as: UTF8.self))
        }
        return o
    }

    /// The job's events (Server-Sent Events) as they come, each data line's JSON to `each`,
    /// until the server's job_finished event (returned) or the stream ends.
    func follow(_ id: String, each: @escaping ([String: Any]) -> Void) throws -> [String: Any]? {
        guard let url = URL(string: base + "/v1/jobs/\(id)/events") else { return nil }
        var r = URLRequest(url: url)
        r.timeoutInterval = 24 * 3600
        r.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        let stream = EventStream(each: each)
        let session = URLSession(configuration: .default, delegate: stream, delegateQueue: nil)
        session.dataTask(with: r).resume()
        stream.done.wait()
        session.invalidateAndCancel()
        if let f = stream.failure { throw f }
        return stream.finished
    }

    /// Splits the SSE stream into its data lines as bytes arrive.
    private final class EventStream: NSObject, URLSessionDataDelegate, @unchecked Sendable {
        let each: ([String: Any]) -> Void
        let done = DispatchSemaphore(value: 0)
        var buffer = Data()
        var finished: [String: Any]?
        var failure: Error?
        var status = 0
        init(each: @escaping ([String: Any]) -> Void) { self.each = each }

        func urlSession(
            _ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
            completionHandler: @escaping (URLSession.ResponseDisposition) -> Void
        ) {
            status = (response as? HTTPURLResponse)?.statusCode ?? 0
            completionHandler(.allow)
        }

        func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
            guard status == 200 else {
                buffer.append(data)
                return
            }
            buffer.append(data)
            while let nl = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[buffer.startIndex..<nl], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...nl)
                guard line.hasPrefix("data: "),
                    let o = try? JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8)) as? [String: Any]
                else { continue }
                each(o)
                if o["event"] as? String == "job_finished" { finished = o }
            }
        }

        func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
            if status != 200 {
                let e = (try? JSONSerialization.jsonObject(with: buffer) as? [String: Any])?["error"] as? [String: Any]
                failure = Failure(
                    status: status, code: e?["code"] as? String ?? "error", message: e?["message"] as? String ?? "events refused")
            } else if let error, finished == nil {
                failure = Failure(status: 0, code: "unreachable", message: error.localizedDescription)
            }
            done.signal()
        }
    }
}
