import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The parts of MLflow's tracking REST API (2.0) an export needs. MLflow's file store is in
/// maintenance mode and refused by default, so the REST API is the contract: any MLflow server
/// (SQLite, PostgreSQL, Databricks) takes what this sends. Calls are synchronous: the CLI has
/// nothing else to do meanwhile.
public struct MLflowClient: Sendable {
    public let base: URL
    let token: String?

    /// `uri`: http(s)://host:port[/prefix]; `token`: a bearer token (MLFLOW_TRACKING_TOKEN).
    public init(uri: String, token: String? = nil) throws {
        guard let u = URL(string: uri.hasSuffix("/") ? String(uri.dropLast()) : uri), let scheme = u.scheme,
            ["http", "https"].contains(scheme.lowercased()), u.host != nil
        else { throw MLflowError.badURI(uri) }
        base = u
        self.token = token
    }

    /// The experiment's id, made when there is none of that name.
    public func experiment(named name: String) throws -> String {
        var c = URLComponents(url: url("/api/2.0/mlflow/experiments/get-by-name"), resolvingAgainstBaseURL: false)
        c?.queryItems = [URLQueryItem(name: "experiment_name", value: name)]
        do {
            let o = try call("GET", c?.url ?? url("/api/2.0/mlflow/experiments/get-by-name"), body: nil)
            if let e = o["experiment"] as? [String: Any], let id = e["experiment_id"] as? String { return id }
        } catch MLflowError.server(_, 404, _) {}
        let made = try call("POST", url("/api/2.0/mlflow/experiments/create"), body: ["name": name])
        guard let id = made["experiment_id"] as? String else { throw shape("experiments/create", made) }
        return id
    }

    /// The MLflow run made earlier from gpuflow run `source`, if any, and whether that export
    /// finished (its last request sets `gpuflow.export_complete`).
    public func exported(_ source: String, experiment: String) throws -> (id: String, complete: Bool)? {
        let quoted = source.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'")
        let o = try call(
            "POST", url("/api/2.0/mlflow/runs/search"),
            body: [
                "experiment_ids": [experiment], "filter": "tags.`\(MLflowPayload.sourceTag)` = '\(quoted)'", "max_results": 10,
                "run_view_type": "ACTIVE_ONLY",
            ])
        let runs = o["runs"] as? [[String: Any]] ?? []
        var found: (id: String, complete: Bool)?
        for r in runs {
            guard let id = (r["info"] as? [String: Any])?["run_id"] as? String else { continue }
            let tags = ((r["data"] as? [String: Any])?["tags"] as? [[String: Any]]) ?? []
            let complete = tags.contains { $0["key"] as? String == MLflowPayload.completeTag && $0["value"] as? String == "true" }
            if complete || found == nil { found = (id, complete) }
        }
        return found
    }

    /// Deletes a run (a half-finished export, made again).
    public func deleteRun(_ id: String) throws {
        _ = try call("POST", url("/api/2.0/mlflow/runs/delete"), body: ["run_id": id])
    }

    /// A new run: its id and its artifact root (`mlflow-artifacts:/…` when the server proxies
    /// artifacts, as `mlflow server` does by default).
    public func createRun(experiment: String, name: String?, startTime: Int64, tags: [MLflowPayload.Pair] = []) throws -> (
        id: String, artifactURI: String?
    ) {
        var body: [String: Any] = [
            "experiment_id": experiment, "start_time": startTime, "tags": tags.map { ["key": $0.key, "value": $0.value] },
        ]
        if let name { body["run_name"] = name }
        let o = try call("POST", url("/api/2.0/mlflow/runs/create"), body: body)
        guard let info = (o["run"] as? [String: Any])?["info"] as? [String: Any], let id = info["run_id"] as? String else {
            throw shape("runs/create", o)
        }
        return (id, info["artifact_uri"] as? String)
    }

    public func logBatch(run: String, _ b: MLflowPayload.Batch) throws {
        func pairs(_ p: [MLflowPayload.Pair]) -> [[String: Any]] { p.map { ["key": $0.key, "value": $0.value] } }
        _ = try call(
            "POST", url("/api/2.0/mlflow/runs/log-batch"),
            body: [
                "run_id": run, "params": pairs(b.params), "tags": pairs(b.tags),
                "metrics": b.metrics.map { ["key": $0.key, "value": $0.value, "timestamp": $0.timestamp, "step": $0.step] },
            ])
    }

    public func finish(run: String, status: String, endTime: Int64?) throws {
        var body: [String: Any] = ["run_id": run, "status": status]
        if let endTime { body["end_time"] = endTime }
        _ = try call("POST", url("/api/2.0/mlflow/runs/update"), body: body)
    }

    /// Uploads a file through the server's artifact proxy; false when the run's artifact root
    /// is not one the server proxies (an s3:// or file: root the client would write itself).
    public func putArtifact(artifactURI: String?, path: String, data: Data) throws -> Bool {
        guard let root = artifactURI, root.hasPrefix("mlflow-artifacts:") else { return false }
        var rest = String(root.dropFirst("mlflow-artifacts:".count))
        while rest.hasPrefix("/") { rest.removeFirst() }
        // A root with a host part (mlflow-artifacts://host/…) names the path after the host.
        if root.hasPrefix("mlflow-artifacts://"), let slash = rest.firstIndex(of: "/") { rest = String(rest[rest.index(after: slash)...]) }
        // Each segment encoded on its own; "." and ".." (which a client or server would fold,
        // climbing out of the run's folder) become "_" and "__".
        let encoded = (rest + "/" + path).split(separator: "/").map { segment -> String in
            let s = segment == "." ? "_" : segment == ".." ? "__" : String(segment)
            return s.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? s
        }.joined(separator: "/")
        guard let target = URL(string: base.absoluteString + "/api/2.0/mlflow-artifacts/artifacts/" + encoded) else { return false }
        _ = try call("PUT", target, raw: data)
        return true
    }

    private func url(_ path: String) -> URL { URL(string: base.absoluteString + path) ?? base }

    private func shape(_ what: String, _ o: [String: Any]) -> MLflowError {
        .server(url: base.absoluteString, status: 200, message: "\(what) answered without the fields expected: \(o)")
    }

    private func call(_ method: String, _ target: URL, body: [String: Any]? = nil, raw: Data? = nil) throws -> [String: Any] {
        let r = try BlockingHTTP.request(target, method: method, bearer: token, json: body, raw: raw)
        let status: Int, data: Data?
        do { (status, data) = try BlockingHTTP.send(r) } catch {
            throw MLflowError.unreachable(url: base.absoluteString, detail: error.localizedDescription)
        }
        let object = data.flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] } ?? [:]
        guard (200..<300).contains(status) else {
            let message =
                (object["message"] as? String).map { "\(object["error_code"] as? String ?? "error"): \($0)" }
                ?? String(decoding: (data ?? Data()).prefix(300), as: UTF8.self)
            throw MLflowError.server(url: target.absoluteString, status: status, message: message)
        }
        return object
    }
}
