import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// One HTTP request, waited for: what the CLI's clients (the MLflow export, `gpuflow job`)
/// send, with nothing else to do meanwhile.
public enum BlockingHTTP {
    /// A request with a bearer token and a JSON body (or raw bytes), 60 s to answer.
    public static func request(_ url: URL, method: String, bearer: String?, json: Any? = nil, raw: Data? = nil) throws -> URLRequest {
        var r = URLRequest(url: url)
        r.httpMethod = method
        r.timeoutInterval = 60
        if let bearer { r.setValue("Bearer \(bearer)", forHTTPHeaderField: "Authorization") }
        if let json {
            r.httpBody = try JSONSerialization.data(withJSONObject: json)
            r.setValue("application/json", forHTTPHeaderField: "Content-Type")
        } else if let raw {
            r.httpBody = raw
            r.setValue("application/octet-stream", forHTTPHeaderField: "Content-Type")
        }
        return r
    }

    /// The answer's status and body; throws the transport's error (no connection, timeout).
    public static func send(_ request: URLRequest) throws -> (status: Int, body: Data) {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var answer: (Data?, URLResponse?, Error?) = (nil, nil, nil)
        URLSession.shared.dataTask(with: request) { d, resp, e in
            answer = (d, resp, e)
            done.signal()
        }.resume()
        done.wait()
        if let e = answer.2 { throw e }
        return ((answer.1 as? HTTPURLResponse)?.statusCode ?? 0, answer.0 ?? Data())
    }
}
