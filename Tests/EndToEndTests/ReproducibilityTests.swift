import Foundation
import GPUFlowStore
import GPUFlowTesting
import GRDB
import Testing

/// The experiment loop through the binary: record, replay bit for bit, cache stages, resume a
/// killed run, compare, report — each run with a store of its own.
@Suite struct ReproducibilityTests {

    private let workflow = """
        local gpu = require "gpu"
        local workflow = require "workflow"
        local epochs = tonumber(arg[1]) or 8
        local data = workflow.stage("prepare", {240, 5}, function(n, seed)
          return gpu.data.blobs{samples = n, features = 8, centers = 3, seed = seed}:standardize()
        end)
        local model = workflow.stage("train", {data, epochs}, function(d, e)
          local m = gpu.nn.mlp{inputs = 8, hidden = {24}, outputs = 3, seed = 1}
          return gpu.submit(gpu.training{model = m, data = d, epochs = e, batch_size = 16}):await().model
        end)
        local r = gpu.submit(gpu.inference{model = model, data = data}):await()
        print(("accuracy %.6f"):format(r.accuracy))
        """

    @Test(arguments: ["cpu", "vulkan"])
    func aReplayIsBitIdentical(_ backend: String) throws {
        let s = try CLISandbox()
        let script = try s.write("wf.lua", workflow)
        let first = try s.run(["run", script, "--backend", backend, "--seed", "11", "--", "6"])
        #expect(first.status == 0, "\(first.stderr)")
        let id = try s.last()
        let replay = try s.run(["replay", id, "--quiet"])
        #expect(replay.status == 0, "\(replay.stdout)\(replay.stderr)")
        #expect(
            replay.stdout.contains("identical") && replay.stdout.contains("1 model hashes match bit for bit (backend \(backend))"),
            "\(replay.stdout)")
        // The recorded manifest names what ran.
        let show = try s.run(["runs", "show", id])
        #expect(
            show.stdout.contains("seed 11, arguments [6], backend \(backend)") && show.stdout.contains("module  workflow"), "\(show.stdout)"
        )
    }

    @Test func stagesAreCachedAndAnEditedStageRunsAgain() throws {
        let s = try CLISandbox()
        let script = try s.write("wf.lua", workflow)
        _ = try s.run(["run", script, "--backend", "simd"])
        let firstID = try s.last()
        let second = try s.run(["run", script, "--backend", "simd", "--json"])
        let events = second.stdout.split(separator: "\n")
        #expect(!events.contains { $0.contains("\"task_started\"") && $0.contains("\"training\"") }, "both stages came from the cache")
        // Each says so: an event in --json, a line on stdout otherwise, and in `runs show`.
        for stage in ["prepare", "train"] {
            #expect(
                events.contains {
                    $0.contains("\"event\":\"stage_cached\"") && $0.contains("\"stage\":\"\(stage)\"") && $0.contains(firstID)
                },
                "\(second.stdout)")
        }
        let plain = try s.run(["run", script, "--backend", "simd"])
        #expect(plain.stdout.contains("stage prepare: from the cache (the result of run \(firstID))"), "\(plain.stdout)")
        #expect(plain.stdout.contains("stage train: from the cache"), "\(plain.stdout)")
        let shownCached = try s.run(["runs", "show", "last"])
        #expect(
            shownCached.stdout.contains("stages from the cache: prepare (from run \(firstID)), train (from run \(firstID))"),
            "\(shownCached.stdout)")
        // Edit inside the train stage: it runs again; prepare still comes from the cache.
        _ = try s.write("wf.lua", workflow.replacingOccurrences(of: "batch_size = 16", with: "batch_size = 8"))
        let third = try s.run(["run", script, "--backend", "simd", "--json"])
        #expect(third.stdout.contains("\"kind\":\"training\""), "the edited stage trained again")
        let id = try s.last()
        let shown = try s.run(["runs", "show", id])
        #expect(shown.stdout.contains("stages run and cached: train"), "\(shown.stdout)")
        // Editing code outside any stage invalidates nothing.
        _ = try s.write("wf.lua", workflow.replacingOccurrences(of: "batch_size = 16", with: "batch_size = 8") + "\nprint('done')\n")
        let fourth = try s.run(["run", script, "--backend", "simd", "--json"])
        #expect(!fourth.stdout.contains("\"kind\":\"training\""))
    }

    @Test func aKilledRunResumesToTheSameModel() throws {
        let s = try CLISandbox()
        let script = try s.write("wf.lua", workflow)
        // Uninterrupted, in a store of its own.
        let calm = try s.run(["run", script, "--backend", "simd", "--store", s.dir.appendingPathComponent("calm.sqlite").path, "--", "10"])
        #expect(calm.status == 0)
        let calmShow = try s.run(["runs", "show", "last", "--store", s.dir.appendingPathComponent("calm.sqlite").path])
        let calmModel = calmShow.stdout.split(separator: "\n").first { $0.contains("model task") }?.split(separator: " ").last
        // Killed with SIGKILL after 6 of 10 epochs.
        let killed = try s.run(["run", script, "--backend", "simd", "--", "10"], extra: ["GPUFLOW_CRASH_AFTER_EPOCHS": "6"])
        #expect(killed.status == 9 || killed.status == 137 || killed.status != 0, "killed: \(killed.status)")
        let id = try s.last()
        let list = try s.run(["runs", "list"])
        #expect(
            list.stdout.contains(id) && list.stdout.split(separator: "\n").contains { $0.contains(id) && $0.contains("interrupted") },
            "a killed run is interrupted, not running: \(list.stdout)")
        let resumed = try s.run(["run", "--resume", id, "--backend", "simd"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let show = try s.run(["runs", "show", "last"])
        #expect(show.stdout.contains("resumes \(id)"))
        let model = show.stdout.split(separator: "\n").first { $0.contains("model task") }?.split(separator: " ").last
        #expect(model != nil && model == calmModel, "resumed model \(model ?? "-") vs uninterrupted \(calmModel ?? "-")")
    }

    /// A training at the top of a script (no stage), killed half-way, goes on from its last
    /// checkpoint: the first epoch the resumed run reports follows the checkpoint's, the result
    /// says where it resumed, and the model is the uninterrupted run's. (The task's key was
    /// hashed from JSON whose key order changes between processes, so a resume never found its
    /// checkpoint and trained from epoch 1 to the same model.)
    @Test func aKilledTopLevelTrainingResumesAtItsLastCheckpoint() throws {
        let s = try CLISandbox()
        let script = try s.write(
            "top.lua",
            """
            local gpu = require "gpu"
            local d = gpu.data.blobs{samples = 240, features = 8, centers = 3, seed = 5}:standardize()
            local m = gpu.nn.mlp{inputs = 8, hidden = {24}, outputs = 3, seed = 1}
            local r = gpu.submit(gpu.training{model = m, data = d, epochs = 200, batch_size = 16}):await()
            print("resumed_from_epoch", r.metrics.resumed_from_epoch, "epochs", r.metrics.epochs)
            """)
        let calmStore = s.dir.appendingPathComponent("calm.sqlite").path
        let calm = try s.run(["run", script, "--backend", "simd", "--seed", "3", "--store", calmStore])
        #expect(calm.status == 0, "\(calm.stderr)")
        let model = { (args: [String]) throws -> Substring? in
            try s.run(["runs", "show", "last"] + args).stdout.split(separator: "\n").first { $0.contains("model task") }?.split(
                separator: " "
            ).last
        }
        let calmModel = try model(["--store", calmStore])
        // The first write comes after a second of training by default; this one is shorter.
        let early = try s.write("early.yaml", "store: {checkpoint_first_after_s: 0}\n")
        let killed = try s.run(
            ["run", script, "--backend", "simd", "--seed", "3", "--profile", early], extra: ["GPUFLOW_CRASH_AFTER_EPOCHS": "100"])
        #expect(killed.status != 0)
        let id = try s.last()
        let store = try RunStore(path: s.dir.appendingPathComponent("data/runs.sqlite").path)
        #expect(try store.checkpointUsage().count == 1, "a killed training leaves its newest checkpoint, only that one")
        let resumed = try s.run(["run", "--resume", id, "--backend", "simd", "--json"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let epochs = resumed.stdout.split(separator: "\n").filter { $0.contains("\"event\":\"epoch\"") }
        let first =
            epochs.first.flatMap { line in line.range(of: "\"epoch\":").map { Int(line[$0.upperBound...].prefix { $0.isNumber }) } } ?? nil
        let from = resumed.stdout.range(of: "resumed_from_epoch\\t").flatMap { r in
            Int(resumed.stdout[r.upperBound...].prefix { $0.isNumber })
        }
        #expect(
            from != nil && (1...99).contains(from ?? 0), "resumed from \(from.map(String.init) ?? "nil"): \(resumed.stdout.prefix(600))")
        #expect(first == (from ?? -1) + 1, "the first epoch after resume is \(first.map(String.init) ?? "none")")
        #expect(epochs.count == 200 - (from ?? 0), "only the remaining epochs ran")
        let resumedModel = try model([])
        #expect(resumedModel != nil && resumedModel == calmModel, "resumed model vs uninterrupted")
        #expect(try store.checkpointUsage().count == 0, "the task succeeded: its checkpoint is dropped")
    }

    /// The profile keeps the newest N checkpoints, and the last one after success when asked.
    @Test func checkpointsAreKeptAsTheProfileSays() throws {
        let s = try CLISandbox()
        let script = try s.write(
            "top.lua",
            """
            local gpu = require "gpu"
            local d = gpu.data.blobs{samples = 120, features = 4, centers = 2, seed = 5}
            local m = gpu.nn.mlp{inputs = 4, hidden = {8}, outputs = 2, seed = 1}
            gpu.submit(gpu.training{model = m, data = d, epochs = 60, batch_size = 16}):await()
            """)
        let keep = try s.write(
            "keep.yaml", "store: {checkpoint_keep_last: 3, checkpoint_max_overhead: 1, checkpoint_keep_on_success: true}\n")
        let killed = try s.run(["run", script, "--backend", "simd", "--profile", keep], extra: ["GPUFLOW_CRASH_AFTER_EPOCHS": "30"])
        #expect(killed.status != 0)
        let store = try RunStore(path: s.dir.appendingPathComponent("data/runs.sqlite").path)
        // Every epoch is handed to the writer (overhead 1), which runs beside the training: a kill
        // loses the writes still queued (a loaded machine can lag the fast epochs), never more
        // than the newest 3 are kept.
        let afterKill = try store.checkpointUsage().count
        #expect((1...3).contains(afterKill), "after the kill \(afterKill) checkpoints: at least one written, at most the newest 3 kept")
        let done = try s.run(["run", script, "--backend", "simd", "--profile", keep])
        #expect(done.status == 0, "\(done.stderr)")
        let afterSuccess = try store.checkpointUsage().count
        #expect(afterSuccess == 3, "the same task went on from its checkpoint and kept its newest 3 on success, not \(afterSuccess)")
        let plain = try s.run(["run", script, "--backend", "simd"])
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(try store.checkpointUsage() == (0, 0), "by default a succeeded task's checkpoints are dropped, files too")
        // Every file left is a model's or a learning history block's, none a checkpoint's.
        let root = s.dir.appendingPathComponent("data/artifacts").path
        let files = (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? []).filter { $0.contains("/") }
        let kinds = try files.map { f in
            try DatabaseQueue(path: s.dir.appendingPathComponent("data/runs.sqlite").path).read { db in
                try String.fetchOne(db, sql: "SELECT kind FROM artifacts WHERE hash = ?", arguments: [(f as NSString).lastPathComponent])
                    ?? "unrecorded"
            }
        }
        #expect(!files.isEmpty && kinds.allSatisfy { $0 == "model" || $0 == "history" }, "left: \(zip(files, kinds).map { "\($0) \($1)" })")
    }

    /// Learned defaults, warm starts and backend choices read the learning history; a replay
    /// starts from the history the run read (recorded with it), not from the history as later
    /// runs left it. Here the inference batch size is learned from feedback and then sizes a
    /// training, so a replay that read the newer feedback would train differently.
    @Test func aReplayUsesTheLearningHistoryTheRunRead() throws {
        let s = try CLISandbox()
        let script = try s.write(
            "learned.lua",
            """
            local gpu = require "gpu"
            local d = gpu.data.blobs{samples = 160, features = 4, centers = 3, seed = 2}:standardize()
            local m = gpu.nn.mlp{inputs = 4, hidden = {8}, outputs = 3, seed = 1}
            if arg[1] == "feedback" then
              local h = gpu.submit(gpu.inference{model = m, data = d, batch_size = 64})
              h:await()
              gpu.optimize_scheduling{{task = h, satisfaction = 0.5, suggestions = {"batch_size=" .. arg[2]}}}
            else
              local r = gpu.submit(gpu.inference{model = m, data = d}):await()
              print("batch", r.batch_size, r.batch_size_source)
              local w = gpu.submit(gpu.optimization{target = "accuracy", model = m, data = d, strategy = "grid", budget = 2,
                training_epochs = 1, search = {learning_rate = {0.01, 0.1}}}):await()
              gpu.submit(gpu.training{model = m, data = d, epochs = 2, batch_size = r.batch_size}):await()
            end
            """)
        _ = try s.run(["run", script, "--backend", "simd", "--", "feedback", "16"])
        let served = try s.run(["run", script, "--backend", "simd", "--", "serve"])
        #expect(served.stdout.contains("batch\t16\tlearned"), "\(served.stdout)\(served.stderr)")
        let id = try s.last()
        let shown = try s.run(["runs", "show", id])
        #expect(
            shown.stdout.contains("learning history read: ") && !shown.stdout.contains("learning history read: none"), "\(shown.stdout)")
        // Newer feedback: a run now learns another batch size.
        _ = try s.run(["run", script, "--backend", "simd", "--", "feedback", "4"])
        let now = try s.run(["run", script, "--backend", "simd", "--", "serve"])
        #expect(now.stdout.contains("batch\t4\tlearned"), "\(now.stdout)")
        let replay = try s.run(["replay", id, "--quiet"])
        #expect(replay.status == 0 && replay.stdout.contains("identical"), "\(replay.stdout)\(replay.stderr)")
        // The replay wrote nothing to the history: a run after it still learns 4.
        #expect(try s.run(["run", script, "--backend", "simd", "--", "serve"]).stdout.contains("batch\t4\tlearned"))
    }

    /// Replay works from any directory (the manifest holds absolute paths), and --recorded writes
    /// nothing: it runs the recorded text as if from the script's own path.
    @Test func replayWorksFromAnyDirectoryAndRecordedWritesNothing() throws {
        let s = try CLISandbox()
        let project = s.dir.appendingPathComponent("project")
        try FileManager.default.createDirectory(at: project, withIntermediateDirectories: true)
        try "return {scale = 2}\n".write(to: project.appendingPathComponent("helper.lua"), atomically: true, encoding: .utf8)
        let text = """
            local gpu = require "gpu"
            local helper = require "helper"
            local d = gpu.data.blobs{samples = 60, features = 3, centers = 2, seed = helper.scale}
            local m = gpu.nn.mlp{inputs = 3, hidden = {4}, outputs = 2, seed = 1}
            print(gpu.submit(gpu.training{model = m, data = d, epochs = 3}):await().metrics.loss)
            """
        try text.write(to: project.appendingPathComponent("wf.lua"), atomically: true, encoding: .utf8)
        let first = try CLIRunner.run(["run", "wf.lua", "--backend", "simd"], currentDirectory: project.path, environment: s.env)
        #expect(first.status == 0, "\(first.stderr)")
        let id = try s.last()
        let elsewhere = try CLIRunner.run(["replay", id, "--quiet"], currentDirectory: "/", environment: s.env)
        #expect(elsewhere.status == 0 && elsewhere.stdout.contains("identical"), "\(elsewhere.stdout)\(elsewhere.stderr)")
        // Change the script, and take the name a copy beside it would have had (so a folder that
        // cannot be written is simulated even for root): --recorded still replays, writing nothing.
        try (text + "\n-- edited\n").write(to: project.appendingPathComponent("wf.lua"), atomically: true, encoding: .utf8)
        let taken = project.appendingPathComponent(".gpuflow-replay-\(ContentHash.of(text).prefix(12)).lua")
        try FileManager.default.createDirectory(at: taken, withIntermediateDirectories: false)
        let recorded = try CLIRunner.run(["replay", id, "--recorded", "--quiet"], currentDirectory: "/", environment: s.env)
        #expect(recorded.status == 0 && recorded.stdout.contains("identical"), "\(recorded.stdout)\(recorded.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: project.path).count == 3, "nothing written beside the script")
    }

    @Test func replayRefusesAChangedScriptUnlessAskedToUseTheRecordedText() throws {
        let s = try CLISandbox()
        let script = try s.write("wf.lua", workflow)
        _ = try s.run(["run", script, "--backend", "simd"])
        let id = try s.last()
        _ = try s.write("wf.lua", workflow + "\n-- edited\n")
        let refused = try s.run(["replay", id])
        #expect(refused.status == 2 && refused.firstErrorLine.contains("wf.lua changed since the run"), "\(refused.stderr)")
        let recorded = try s.run(["replay", id, "--recorded", "--quiet"])
        #expect(recorded.status == 0 && recorded.stdout.contains("identical"), "\(recorded.stdout)\(recorded.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.dir.path).allSatisfy { !$0.hasPrefix(".gpuflow-replay") })
    }

    @Test func compareMarksDifferencesAndBadStoresAreRefused() throws {
        let s = try CLISandbox()
        let script = try s.write("wf.lua", workflow)
        _ = try s.run(["run", script, "--backend", "simd", "--", "4"])
        let a = try s.last()
        _ = try s.run(["run", script, "--backend", "simd", "--", "5"])
        let b = try s.last()
        let c = try s.run(["runs", "compare", a, b, "--differences"])
        #expect(c.status == 0)
        #expect(c.stdout.contains("≠ arguments") && c.stdout.contains("results differ"), "\(c.stdout)")
        let corrupt = try s.write("bad.sqlite", String(repeating: "not a database ", count: 400))
        let r = try s.run(["runs", "list", "--store", corrupt])
        #expect(r.status == 2 && r.firstErrorLine.contains("is not a usable SQLite database"), "\(r.stderr)")
        let unknown = try s.run(["runs", "show", "r0000"])
        #expect(unknown.status == 2 && unknown.firstErrorLine.contains("no run 'r0000'"))
    }

    @Test func theReportRendersInChromiumWithItsCharts() throws {
        let s = try CLISandbox()
        let script = try s.write("wf.lua", workflow)
        _ = try s.run(["run", script, "--backend", "simd"])
        let html = s.dir.appendingPathComponent("report.html").path
        let r = try s.run(["report", "last", "--out", html])
        #expect(r.status == 0, "\(r.stderr)")
        let text = try String(contentsOfFile: html, encoding: .utf8)
        for id in ["curves-", "latency-", "gantt", "Manifest"] { #expect(text.contains(id), "report lacks \(id)") }
        // Tasks by their stage's name; the latency of every request (240 rows), not of 4 batches.
        #expect(text.contains("train <span class=\"id\">(task 1)</span>: learning curves"), "tasks named by their stage")
        #expect(text.contains("latency of its 240 requests"))
        // Epochs are counted: every tick of a learning curve is a whole number.
        let curves = String(text[text.range(of: "id=\"curves-")!.lowerBound...].prefix { $0 != "\n" })
        let ticks = curves.components(separatedBy: "class=\"label xtick\"").dropFirst().compactMap { part in
            part.split(separator: ">").dropFirst().first.map { String($0.prefix { $0 != "<" }) }
        }
        #expect(ticks.count >= 2 && ticks.allSatisfy { Int($0) != nil }, "epoch ticks \(ticks)")
        // The manifest as a table with dates; the script's output; gpuflow's figures apart.
        #expect(
            text.contains("<table class=\"manifest\">")
                && text.range(of: #"<th>started</th><td>20\d\d-\d\d-\d\d \d\d:\d\d:\d\d UTC"#, options: .regularExpression) != nil)
        #expect(text.contains("id=\"output\"") && text.contains("accuracy 0."))
        #expect(text.contains("id=\"recorded\">Recorded by gpuflow"))
        guard
            let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first(where: {
                FileManager.default.isExecutableFile(atPath: $0)
            })
        else {
            Issue.record("chromium is not installed (scripts/lib/setup.sh installs it)")
            return
        }
        let png = s.dir.appendingPathComponent("shot.png").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: chromium)
        p.arguments = ["--headless", "--disable-gpu", "--no-sandbox", "--screenshot=\(png)", "--window-size=1100,1600", "file://\(html)"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        let data = try Data(contentsOf: URL(fileURLWithPath: png))
        #expect(data.starts(with: [0x89, 0x50, 0x4E, 0x47]) && data.count > 20_000, "screenshot of \(data.count) bytes")
        // The rendered DOM keeps the charts as SVG elements (a malformed chart would swallow its siblings).
        let dom = Process()
        dom.executableURL = URL(fileURLWithPath: chromium)
        dom.arguments = ["--headless", "--disable-gpu", "--no-sandbox", "--dump-dom", "file://\(html)"]
        let pipe = Pipe()
        dom.standardOutput = pipe
        dom.standardError = FileHandle.nullDevice
        try dom.run()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        dom.waitUntilExit()
        #expect(out.components(separatedBy: "<svg").count - 1 >= 4, "rendered SVG charts")
        #expect(out.contains("</svg><h2>") || out.contains("</svg>\n<h2>"), "charts close properly")
    }

    @Test func progressIsQuietOrJSONOnRequest() throws {
        let s = try CLISandbox()
        let script = try s.write("wf.lua", workflow)
        let json = try s.run(["run", script, "--backend", "simd", "--json", "--store", "none"])
        let lines = json.stdout.split(separator: "\n")
        #expect(lines.allSatisfy { $0.hasPrefix("{\"event\":") }, "\(json.stdout)")
        #expect(lines.contains { $0.contains("\"event\":\"epoch\"") } && lines.contains { $0.contains("\"event\":\"output\"") })
        let quiet = try s.run(["run", script, "--backend", "simd", "--quiet", "--store", "none"])
        #expect(quiet.stderr.isEmpty && quiet.stdout.hasPrefix("accuracy"))
    }

    @Test func severalRunsWriteOneStoreAtOnce() throws {
        let s = try CLISandbox()
        let script = try s.write("wf.lua", workflow)
        let group = DispatchGroup()
        let statuses = LockedStatuses()
        for i in 0..<4 {
            group.enter()
            DispatchQueue.global().async {
                defer { group.leave() }
                let out = try? s.run(["run", script, "--backend", "simd", "--seed", String(i), "--quiet"])
                statuses.add(out?.status ?? -1)
                if let out, out.status != 0 { Issue.record("run \(i) exited \(out.status): \(out.stderr)") }
            }
        }
        group.wait()
        #expect(statuses.all == [0, 0, 0, 0])
        let list = try s.run(["runs", "list"])
        #expect(list.stdout.split(separator: "\n").filter { $0.contains("succeeded") }.count == 4, "\(list.stdout)")
    }
}

final class LockedStatuses: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [Int32] = []
    func add(_ s: Int32) { lock.lock(); list.append(s); lock.unlock() }
    var all: [Int32] { lock.lock(); defer { lock.unlock() }; return list }
}

private extension CLISandbox {
    /// The newest run's id.
    func last() throws -> String {
        let out = try run(["runs", "list"])
        return String(out.stdout.split(separator: "\n").dropFirst().first?.split(separator: " ").first ?? "")
    }
}
