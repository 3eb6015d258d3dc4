import ArgumentParser
import Foundation
import GPUFlowCore
import GPUFlowStore

extension Runs {
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export",
            abstract: "Send runs to an MLflow tracking server (REST API): params, metrics with steps, tags, status, artifacts.",
            discussion: """
                Each run goes to the MLflow experiment of its --experiment (else "Default"), made when missing. Task metrics \
                are TASK/KEY with epochs as steps; what the script logged keeps its keys and steps. Artifacts (models, the \
                script's output, the manifest and the HTML report) go through the server's artifact proxy. A run exported \
                before (tag gpuflow.run_id) is not sent again. MLFLOW_TRACKING_TOKEN, when set, is sent as a bearer token.
                """)
        @OptionGroup var options: StoreOption
        @Option(help: "The tracking server, http(s)://host:port (default: $MLFLOW_TRACKING_URI).") var mlflow: String?
        @Argument(help: ArgumentHelp("Runs to export (ids, prefixes, last); default: every ended run.", valueName: "run"))
        var runs: [String] = []
        @Option(help: "Only this experiment's runs (when no runs are named).") var experiment: String?
        @Flag(help: "Print what was exported as JSON (errors too).") var json = false

        func run() throws {
            let report = JSONErrors(enabled: json)
            let env = ProcessInfo.processInfo.environment
            guard let uri = mlflow ?? env["MLFLOW_TRACKING_URI"] else {
                report.fail("runs export needs --mlflow URI (or MLFLOW_TRACKING_URI)", kind: .input)
            }
            let client = report.input { try MLflowClient(uri: uri, token: env["MLFLOW_TRACKING_TOKEN"]) }
            let store = options.open(errors: report)
            let ids: [String] = report.input {
                if !runs.isEmpty { return try runs.map { try store.resolve($0) } }
                // Ended runs only: a cluster run still submitted is left for a later export.
                return try store.trackedRuns(experiment: experiment).filter { MLflowPayload.status(of: $0.summary.status) != nil }
                    .map(\.summary.id).reversed()
            }
            var results: [TaskValue] = []
            var failures = 0
            for id in ids {
                do {
                    let r = try Self.export(id, store: store, client: client)
                    results.append(r.json)
                    if !json { print(r.line) }
                } catch {
                    failures += 1
                    results.append(.table([("run", .string(id)), ("error", .string("\(error)"))]))
                    if !json { FileHandle.standardError.write(Data("error: exporting \(id): \(error)\n".utf8)) }
                    if case MLflowError.unreachable = error { break }
                }
            }
            if json { print(TaskValueJSON.encode(.table([("exported", .array(results)), ("failed", .integer(failures))]), indent: nil)) }
            if failures > 0 { throw ExitCode(ErrorKind.input.exitCode) }
        }

        struct Result {
            let run: String
            let mlflowRun: String
            let experiment: String
            let skipped: Bool
            var counts = (params: 0, metrics: 0, tags: 0, artifacts: 0)
            var notes: [String] = []
            var line: String {
                skipped
                    ? "\(run): already in MLflow as run \(mlflowRun) (experiment \(experiment)); not sent again"
                    : "\(run) → MLflow run \(mlflowRun) (experiment \(experiment)): \(counts.params) params, \(counts.metrics) metric values, \(counts.tags) tags, \(counts.artifacts) artifacts"
                        + (notes.isEmpty ? "" : "; " + notes.joined(separator: "; "))
            }
            var json: TaskValue {
                .table([
                    ("run", .string(run)), ("mlflow_run", .string(mlflowRun)), ("experiment_id", .string(experiment)),
                    ("skipped", .bool(skipped)), ("params", .integer(counts.params)), ("metrics", .integer(counts.metrics)),
                    ("tags", .integer(counts.tags)), ("artifacts", .integer(counts.artifacts)),
                    ("notes", .array(notes.map { .string($0) })),
                ])
            }
        }

        static func export(_ id: String, store: RunStore, client: MLflowClient) throws -> Result {
            let payload = try MLflowPayload.of(store, run: id)
            let experiment = try client.experiment(named: payload.experiment)
            var previous: String?
            if let existing = try client.exported(id, experiment: experiment) {
                if existing.complete { return Result(run: id, mlflowRun: existing.id, experiment: experiment, skipped: true) }
                // An export that stopped half-way (a server error, a lost connection): again, whole.
                try client.deleteRun(existing.id)
                previous = existing.id
            }
            // The source tag goes with the run's creation, so even a run whose next request
            // fails is found (and replaced) by the next export.
            let (mlflowRun, artifactURI) = try client.createRun(
                experiment: experiment, name: payload.runName, startTime: payload.startTime,
                tags: payload.tags.filter { $0.key == MLflowPayload.sourceTag })
            var result = Result(run: id, mlflowRun: mlflowRun, experiment: experiment, skipped: false)
            if let previous { result.notes.append("replaced MLflow run \(previous), an export that had not finished") }
            for b in payload.batches { try client.logBatch(run: mlflowRun, b) }
            result.counts = (payload.params.count, payload.metrics.count, payload.tags.count, 0)
            if !payload.truncated.isEmpty {
                result.notes.append(
                    "params cut to \(MLflowPayload.maxParamValue) characters: " + payload.truncated.joined(separator: ", "))
            }
            var files: [(String, Data)] = []
            for a in try store.artifactEntries(id) where a.kind != "checkpoint" {
                let path = a.kind == "output" ? a.name : "\(a.kind)s/\(a.name)"
                files.append((path, try store.artifact(a.hash)))
            }
            files.append(("gpuflow/manifest.json", Data(try store.manifest(id).json().utf8)))
            files.append(("gpuflow/report.html", Data(try ReportBuilder.html(store: store, run: id).utf8)))
            for (path, data) in files {
                guard try client.putArtifact(artifactURI: artifactURI, path: path, data: data) else {
                    result.notes.append(
                        "artifacts not sent: the run's artifact root \(artifactURI ?? "(none)") is not served by the server (start it with --serve-artifacts)"
                    )
                    break
                }
                result.counts.artifacts += 1
            }
            try client.finish(run: mlflowRun, status: payload.status, endTime: payload.endTime)
            try client.logBatch(run: mlflowRun, MLflowPayload.Batch(tags: [.init(key: MLflowPayload.completeTag, value: "true")]))
            return result
        }
    }
}
