import Foundation
import GPUFlowTesting
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `gpuflow runs export --mlflow` against a real MLflow: `mlflow server` (PyPI, in
/// .mlflow-venv, installed by scripts/test) on a SQLite backend on loopback, read back with
/// MLflow's own client (`mlflow.search_runs`, `MlflowClient().get_metric_history`, artifact
/// downloads) by scripts/peers/mlflow_check.py.
@Suite(.serialized) struct MLflowExportTests {
    static let venv = TestPaths.repository.appendingPathComponent(".mlflow-venv/bin").path
    static let ready = FileManager.default.isExecutableFile(atPath: venv + "/mlflow")

    /// `mlflow server` on a free loopback port, stopped at the end.
    final class Server {
        let port: Int
        init(dir: URL) throws {
            var lastLog = ""
            for _ in 0..<3 {
                let port = Int.random(in: 40_000..<50_000)
                let p = Process()
                p.executableURL = URL(fileURLWithPath: MLflowExportTests.venv + "/mlflow")
                p.arguments = [
                    "server", "--backend-store-uri", "sqlite:///" + dir.appendingPathComponent("mlflow.db").path, "--artifacts-destination",
                    dir.appendingPathComponent("mlartifacts").path, "--host", "127.0.0.1", "--port", String(port), "--workers", "1",
                ]
                let log = dir.appendingPathComponent("mlflow-\(port).log")
                FileManager.default.createFile(atPath: log.path, contents: nil)
                let handle = try FileHandle(forWritingTo: log)
                p.standardOutput = handle
                p.standardError = handle
                try p.run()
                let deadline = Date().addingTimeInterval(90)
                while Date() < deadline, p.isRunning {
                    if Self.healthy(port) {
                        self.port = port
                        running = p
                        return
                    }
                    Thread.sleep(forTimeInterval: 0.5)
                }
                Self.killTree(p.processIdentifier)
                p.waitUntilExit()
                lastLog = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            }
            throw ServerDidNotStart(log: String(lastLog.suffix(2000)))
        }
        private var running: Process?
        struct ServerDidNotStart: Error, CustomStringConvertible {
            let log: String
            var description: String { "mlflow server did not start:\n\(log)" }
        }
        /// The server and every process under it (uvicorn, its job runner and huey consumers):
        /// mlflow server does not stop them on SIGTERM, and waits for them.
        static func killTree(_ root: pid_t) {
            var parents: [pid_t: [pid_t]] = [:]
            for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
                guard let pid = pid_t(name), let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
                    let close = stat.lastIndex(of: ")")
                else { continue }
                let fields = stat[stat.index(after: close)...].split(separator: " ")
                if fields.count > 1, let ppid = pid_t(fields[1]) { parents[ppid, default: []].append(pid) }
            }
            var all: [pid_t] = [], todo = [root]
            while let p = todo.popLast() {
                all.append(p)
                todo += parents[p] ?? []
            }
            for p in all { kill(p, SIGKILL) }
        }

        static func healthy(_ port: Int) -> Bool {
            guard let url = URL(string: "http://127.0.0.1:\(port)/health") else { return false }
            let done = DispatchSemaphore(value: 0)
            nonisolated(unsafe) var ok = false
            URLSession.shared.dataTask(with: url) { _, r, _ in
                ok = (r as? HTTPURLResponse)?.statusCode == 200
                done.signal()
            }.resume()
            _ = done.wait(timeout: .now() + 2)
            return ok
        }
        func stop() {
            guard let p = running else { return }
            Self.killTree(p.processIdentifier)
            p.waitUntilExit()
            running = nil
        }
        deinit { stop() }
    }

    private let script = """
        local gpu = require "gpu"
        local nn = require "gpu.nn"
        local data = require "gpu.data"
        gpu.log{params = {lr = 0.05, optimizer = "adam"}}
        gpu.tag{dataset = "blobs"}
        local ds = data.blobs{samples = 90, features = 4, centers = 3, seed = 2}
        local model = nn.mlp{inputs = 4, hidden = {6}, outputs = 3, seed = 2}
        gpu.submit(gpu.training{name = "fit", model = model, data = ds, epochs = 4, batch_size = 16}):await()
        for step = 0, 9 do gpu.log{metrics = {val_loss = 1 / (step + 1)}, step = step * 10} end
        print("done")
        if arg[1] == "fail" then error("failed on purpose") end
        """

    @Test(.enabled(if: ready, "mlflow is not in .mlflow-venv (scripts/test installs it from PyPI; it could not be installed here)"))
    func exportedRunsReadBackInMLflow() throws {
        let box = try CLISandbox()
        let path = try box.write("train.lua", script)
        #expect(try box.run(["run", path, "--quiet", "--name", "good", "--experiment", "gpuflow-export"]).status == 0)
        #expect(try box.run(["run", path, "--quiet", "--name", "bad", "--", "fail"]).status == 1)
        let list = try #require(
            try JSONSerialization.jsonObject(with: Data(try box.run(["runs", "list", "--json"]).stdout.utf8)) as? [[String: Any]])
        let bad = try #require(list.first?["id"] as? String), good = try #require(list.last?["id"] as? String)

        let server = try Server(dir: box.dir)
        defer { server.stop() }
        let uri = "http://127.0.0.1:\(server.port)"
        let out = try box.run(["runs", "export", "--mlflow", uri, "--json"])
        #expect(out.status == 0, "\(out.stdout) \(out.stderr)")
        let exported = try #require(try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any])
        #expect(exported["failed"] as? Int == 0 && (exported["exported"] as? [Any])?.count == 2, "\(exported)")

        let check = try TestVenv.runPython(
            Self.venv + "/python", [TestPaths.repository.appendingPathComponent("scripts/peers/mlflow_check.py").path, uri, good, bad])
        #expect(check.status == 0, "\(check.stderr.suffix(2000))")
        let seen = try #require(
            try JSONSerialization.jsonObject(with: Data(check.stdout.utf8)) as? [String: [String: Any]], "\(check.stderr.suffix(2000))")
        let g = try #require(seen[good]), b = try #require(seen[bad])
        #expect(g["found"] as? Int == 1 && b["found"] as? Int == 1)
        #expect(g["experiment"] as? String == "gpuflow-export" && b["experiment"] as? String == "Default")
        #expect(g["run_name"] as? String == "good" && g["status"] as? String == "FINISHED" && b["status"] as? String == "FAILED")
        let params = g["params"] as? [String: String] ?? [:]
        #expect(params["lr"] == "0.05" && params["optimizer"] == "adam" && params["seed"] == "0", "\(params)")
        let tags = g["tags"] as? [String: String] ?? [:]
        #expect(tags["dataset"] == "blobs" && tags["gpuflow.status"] == "succeeded")
        #expect((b["tags"] as? [String: String])?["gpuflow.error"]?.contains("failed on purpose") == true)
        // The logged series, every step, as the script logged it.
        let metrics = g["metrics"] as? [String: [[Double]]] ?? [:]
        let history = try #require(metrics["val_loss"], "\(metrics.keys.sorted())")
        #expect(history.map { Int($0[0]) } == Array(stride(from: 0, through: 90, by: 10)))
        let expected: [Double] = (0..<10).map { 1 / Double($0 + 1) }
        let values: [Double] = history.map { $0[1] }
        #expect(values.count == 10 && zip(values, expected).allSatisfy { pair in abs(pair.0 - pair.1) < 1e-12 })
        // The task's epochs as steps.
        #expect(metrics["fit/epoch.loss"]?.map { Int($0[0]) } == [1, 2, 3, 4], "\(metrics.keys.sorted())")
        #expect((g["search_columns"] as? [String] ?? []).contains("metrics.val_loss"))
        // Artifacts byte for byte: the model and the output, as gpuflow stored them.
        let arts = g["artifacts"] as? [String: String] ?? [:]
        let ours = try #require(
            try JSONSerialization.jsonObject(with: Data(try box.run(["artifacts", "list", good, "--json"]).stdout.utf8)) as? [[String: Any]]
        )
        for a in ours {
            let name = a["name"] as? String ?? "", kind = a["kind"] as? String ?? ""
            let path = kind == "output" ? name : "\(kind)s/\(name)"
            #expect(arts[path] == a["sha256"] as? String, "\(path) in \(arts.keys.sorted())")
        }
        #expect(arts["gpuflow/report.html"] != nil && arts["gpuflow/manifest.json"] != nil)

        // A second export finds them there and sends nothing.
        let again = try box.run(["runs", "export", "--mlflow", uri, "--json"])
        let second = try #require(try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any])
        #expect((second["exported"] as? [[String: Any]] ?? []).allSatisfy { $0["skipped"] as? Bool == true }, "\(second)")
        // An export that stopped half-way (no completion tag) is made again, whole, once.
        let untag = try box.write(
            "untag.py",
            "import mlflow, sys\nfrom mlflow.tracking import MlflowClient\nmlflow.set_tracking_uri(sys.argv[1])\n"
                + "r = mlflow.search_runs(experiment_names=['gpuflow-export'], filter_string=\"tags.`gpuflow.run_id` = '\" + sys.argv[2] + \"'\")\n"
                + "MlflowClient().delete_tag(r.run_id[0], 'gpuflow.export_complete')\n")
        let untagged = try TestVenv.runPython(Self.venv + "/python", [untag, uri, good])
        #expect(untagged.status == 0, "\(untagged.stderr.suffix(1500))")
        let third = try box.run(["runs", "export", "--mlflow", uri, "--json"])
        let redone = try #require(try JSONSerialization.jsonObject(with: Data(third.stdout.utf8)) as? [String: Any])
        let rows = redone["exported"] as? [[String: Any]] ?? []
        #expect(rows.first { $0["run"] as? String == good }?["skipped"] as? Bool == false, "\(redone)")
        #expect(rows.first { $0["run"] as? String == bad }?["skipped"] as? Bool == true)
        let recheck = try TestVenv.runPython(
            Self.venv + "/python", [TestPaths.repository.appendingPathComponent("scripts/peers/mlflow_check.py").path, uri, good])
        let after = try JSONSerialization.jsonObject(with: Data(recheck.stdout.utf8)) as? [String: [String: Any]]
        #expect(after?[good]?["found"] as? Int == 1, "one active MLflow run for it, not two: \(recheck.stderr.suffix(500))")
        // A server that is not there: a clear error, exit 2.
        let gone = try box.run(["runs", "export", "--mlflow", "http://127.0.0.1:1", "last"])
        #expect(gone.status == 2 && gone.stderr.contains("cannot be reached"), "\(gone.stderr)")
        let badURI = try box.run(["runs", "export", "--mlflow", "ftp://x", "last"])
        #expect(badURI.status == 2 && badURI.firstErrorLine.contains("http://"))
    }
}
