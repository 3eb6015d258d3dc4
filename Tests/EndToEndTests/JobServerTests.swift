import Foundation
import GPUFlowTesting
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `gpuflow serve` on a loopback port, driven over HTTP as agents would.
@Suite(.serialized) struct JobServerTests {
    final class Server {
        let dir: URL
        private(set) var port: Int
        var process: Process?
        let store: String
        let extra: [String]
        let maxRunning: Int
        /// The server's stderr, for a failing test to show.
        var log: String { (try? String(contentsOf: dir.appendingPathComponent("serve.log"), encoding: .utf8)) ?? "" }
        var pid: Int32 { process?.processIdentifier ?? 0 }
        init(
            profile: String = "learning: {history: none}\nsandbox: {instructions: 20000000, memory_mb: 64, wall_s: 20}\n",
            extra: [String] = [], maxRunning: Int = 4
        ) throws {
            self.extra = extra
            self.maxRunning = maxRunning
            dir = try TestPaths.temporaryDirectory()
            port = Int.random(in: 20_000..<40_000)
            store = dir.appendingPathComponent("runs.sqlite").path
            func hash(_ s: String) -> String {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
                let i = Pipe(), o = Pipe()
                p.standardInput = i
                p.standardOutput = o
                try? p.run()
                i.fileHandleForWriting.write(Data(s.utf8))
                try? i.fileHandleForWriting.close()
                let out = String(decoding: o.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                p.waitUntilExit()
                return String(out.prefix(64))
            }
            try """
            agents:
              alice: {token_sha256: \(hash("alice-token"))}
              bob: {token_sha256: \(hash("bob-token"))}
              ops: {token_sha256: \(hash("ops-token")), admin: true}
            """.write(to: dir.appendingPathComponent("tokens.yaml"), atomically: true, encoding: .utf8)
            try profile.write(to: dir.appendingPathComponent("jobs.yaml"), atomically: true, encoding: .utf8)
            try start()
        }
        /// Starts the server and waits for /healthz. On a loaded 2-core CI machine start-up can
        /// take seconds, so the wait is bounded by the process itself: it ends when the server
        /// answers or exits. A server that exits (its random port taken) is tried again on
        /// another port; the last log is shown when every try failed.
        func start() throws {
            for attempt in 0..<4 {
                if attempt > 0 { port = Int.random(in: 20_000..<40_000) }
                let p = Process()
                p.executableURL = URL(fileURLWithPath: CLIRunner.binary)
                p.arguments =
                    [
                        "serve", "--tokens", dir.appendingPathComponent("tokens.yaml").path, "--port", String(port), "--store", store,
                        "--profile", dir.appendingPathComponent("jobs.yaml").path, "--max-running", String(maxRunning),
                    ] + extra
                p.standardOutput = FileHandle.nullDevice
                let logPath = dir.appendingPathComponent("serve.log").path
                _ = FileManager.default.createFile(atPath: logPath, contents: nil)
                p.standardError = FileHandle(forWritingAtPath: logPath) ?? FileHandle.nullDevice
                try p.run()
                process = p
                let deadline = Date().addingTimeInterval(120)
                while p.isRunning && Date() < deadline {
                    if (try? request("GET", "/healthz").status) == 200 { return }
                    Thread.sleep(forTimeInterval: 0.05)
                }
                stop(hard: true)
            }
            throw NSError(domain: "server did not start", code: 1, userInfo: [NSLocalizedDescriptionKey: "server did not start: \(log)"])
        }
        func stop(hard: Bool = false) {
            guard let p = process else { return }
            if hard { kill(p.processIdentifier, SIGKILL) } else { p.terminate() }
            p.waitUntilExit()
            process = nil
        }
        deinit { stop(hard: true) }

        @discardableResult
        func request(_ method: String, _ path: String, token: String? = nil, body: Data? = nil) throws -> (
            status: Int, json: [String: Any], text: String
        ) {
            var r = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
            r.httpMethod = method
            r.timeoutInterval = 30
            if let token { r.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
            r.httpBody = body
            let done = DispatchSemaphore(value: 0)
            nonisolated(unsafe) var result: (Data?, URLResponse?, Error?)
            URLSession.shared.dataTask(with: r) { d, resp, e in
                result = (d, resp, e); done.signal()
            }.resume()
            done.wait()
            if let e = result.2 { throw e }
            let data = result.0 ?? Data()
            let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
            return ((result.1 as? HTTPURLResponse)?.statusCode ?? 0, json, String(decoding: data, as: UTF8.self))
        }
        func submit(_ script: String, token: String, arguments: [String] = []) throws -> String {
            let body = try JSONSerialization.data(withJSONObject: ["script": script, "arguments": arguments])
            let r = try request("POST", "/v1/jobs", token: token, body: body)
            return r.json["id"] as? String ?? "?"
        }
        func wait(_ id: String, token: String) throws -> [String: Any] {
            // Generous: a job's own limits (wall_s) end it long before this on a loaded machine.
            let deadline = Date().addingTimeInterval(180)
            while Date() < deadline {
                let r = try request("GET", "/v1/jobs/\(id)", token: token)
                if let s = r.json["state"] as? String, !["queued", "running"].contains(s) { return r.json }
                Thread.sleep(forTimeInterval: 0.05)
            }
            return [:]
        }
    }

    private let training = """
        local gpu = require "gpu"
        local ds = gpu.data.blobs{samples = 100, features = 4, centers = 2, seed = 1}
        local r = gpu.submit(gpu.training{model = gpu.nn.mlp{inputs = 4, hidden = {8}, outputs = 2, seed = 1}, data = ds, epochs = 3}):await()
        print("epochs", r.metrics.epochs, ...)
        """

    @Test func aJobRunsStreamsAndIsRecorded() throws {
        let s = try Server()
        let id = try s.submit(training, token: "alice-token", arguments: ["x"])
        let job = try s.wait(id, token: "alice-token")
        #expect(job["state"] as? String == "succeeded", "\(job)")
        #expect(job["output"] as? String == "epochs\t3\tx\n")
        #expect((job["run_id"] as? String)?.hasPrefix("r") == true)
        let events = try s.request("GET", "/v1/jobs/\(id)/events", token: "alice-token")
        #expect(
            events.text.contains("data: {\"event\":\"epoch\"") && events.text.contains("\"event\":\"job_finished\",\"state\":\"succeeded\"")
        )
        let report = try s.request("GET", "/v1/runs/\(job["run_id"] as? String ?? "")/report", token: "alice-token")
        #expect(report.status == 200 && report.text.contains("<svg"))
        #expect(try s.request("GET", "/metrics").text.contains("gpuflow_jobs_finished_total{state=\"succeeded\"} 1"))
    }

    @Test func authIsPerAgentAndErrorsHaveOneShape() throws {
        let s = try Server()
        let id = try s.submit("while true do end", token: "alice-token")
        #expect(try s.request("GET", "/v1/jobs", token: "wrong").status == 401)
        #expect(try s.request("GET", "/v1/jobs").json["error"] != nil)
        // bob neither sees nor cancels alice's job; the admin sees it.
        #expect(try s.request("GET", "/v1/jobs/\(id)", token: "bob-token").status == 404)
        #expect(try s.request("DELETE", "/v1/jobs/\(id)", token: "bob-token").status == 404)
        #expect((try s.request("GET", "/v1/jobs", token: "bob-token").json["jobs"] as? [Any])?.isEmpty == true)
        #expect((try s.request("GET", "/v1/jobs", token: "ops-token").json["jobs"] as? [Any])?.count == 1)
        // Cancel always works, even for a tight loop.
        let c = try s.request("DELETE", "/v1/jobs/\(id)", token: "alice-token")
        #expect(c.json["cancelled"] as? Bool == true)
        #expect(try s.wait(id, token: "alice-token")["state"] as? String == "cancelled")
        let bad = try s.request("POST", "/v1/jobs", token: "alice-token", body: Data("not json".utf8))
        #expect(bad.status == 400 && (bad.json["error"] as? [String: Any])?["code"] as? String == "bad_json")
        let noScript = try s.request("POST", "/v1/jobs", token: "alice-token", body: Data("{}".utf8))
        #expect((noScript.json["error"] as? [String: Any])?["code"] as? String == "missing_script")
        let huge = try JSONSerialization.data(withJSONObject: ["script": String(repeating: "-", count: 300_000)])
        #expect(try s.request("POST", "/v1/jobs", token: "alice-token", body: huge).status == 413)
        let impersonate = try JSONSerialization.data(withJSONObject: ["script": "print(1)", "agent": "bob"])
        #expect(try s.request("POST", "/v1/jobs", token: "alice-token", body: impersonate).status == 403)
    }

    @Test func hostileJobsStopWithTheirReasonWhileOthersComplete() throws {
        let s = try Server()
        let bombs = [
            "local t = {} for i = 1, 1e9 do t[i] = i end", "local function f() return 1 + f() end f()", "io.open('/etc/passwd')",
            "while true do pcall(function() while true do end end) end",
        ]
        let bad = try bombs.map { try s.submit($0, token: "bob-token") }
        let good = try (0..<3).map { _ in try s.submit(training, token: "alice-token") }
        for id in good { #expect(try s.wait(id, token: "alice-token")["state"] as? String == "succeeded") }
        let states = try bad.map { try s.wait($0, token: "bob-token") }
        #expect(states.map { $0["state"] as? String } == ["limit", "limit", "failed", "limit"], "\(states)")
        #expect((states[0]["reason"] as? String)?.contains("memory limit exceeded") == true, "\(states[0])")
        #expect((states[2]["reason"] as? String)?.contains("global 'io'") == true)
        #expect(try s.request("GET", "/healthz").status == 200, "the server kept serving")
    }

    @Test func aRestartLosesNothingAndInterruptsWhatWasRunning() throws {
        let s = try Server(profile: "learning: {history: none}\nsandbox: {instructions: 20000000, memory_mb: 64, wall_s: 120}\n")
        let done = try s.submit(training, token: "alice-token")
        #expect(try s.wait(done, token: "alice-token")["state"] as? String == "succeeded")
        // Long device work (no Lua instructions to run out of), killed with the server once it
        // runs: seconds of training (about 7 s in a debug build), so it cannot finish between
        // the poll and the kill (1,200 epochs once did, in 0.6 s, under a fixed 0.8 s sleep),
        // yet the resumed copy finishes well inside its wall limit.
        let long = training.replacingOccurrences(of: "epochs = 3", with: "epochs = 2000").replacingOccurrences(
            of: "samples = 100", with: "samples = 400")
        let running = try s.submit(long, token: "alice-token")
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, (try s.request("GET", "/v1/jobs/\(running)", token: "alice-token").json["state"] as? String) == "queued" {
            Thread.sleep(forTimeInterval: 0.02)
        }
        Thread.sleep(forTimeInterval: 0.3)
        s.stop(hard: true)
        try s.start()
        #expect(try s.request("GET", "/v1/jobs/\(done)", token: "alice-token").json["state"] as? String == "succeeded")
        let j = try s.request("GET", "/v1/jobs/\(running)", token: "alice-token").json
        #expect(j["state"] as? String == "interrupted" && (j["reason"] as? String)?.contains("server stopped") == true, "\(j)")
        // It resumes as a new job of the same agent, and finishes.
        #expect(try s.request("POST", "/v1/jobs/\(done)/resume", token: "alice-token").status == 409, "a finished job does not resume")
        let r = try s.request("POST", "/v1/jobs/\(running)/resume", token: "alice-token")
        #expect(r.status == 201 && (r.json["reason"] as? String)?.hasPrefix("resumes \(running)") == true, "\(r.text)")
        let again = try s.wait(r.json["id"] as? String ?? "", token: "alice-token")
        #expect(again["state"] as? String == "succeeded" && (again["output"] as? String)?.hasPrefix("epochs\t2000") == true, "\(again)")
    }

    /// Every job's GPU tasks are admitted by the server's one orchestrator: under an exclusive
    /// pattern, two agents' jobs in separate workers never train at the same time.
    @Test func oneOrchestratorAdmitsEveryJobsTasks() throws {
        let s = try Server(profile: "learning: {history: none}\ncoordination: {pattern: exclusive}\n")
        let long = training.replacingOccurrences(of: "epochs = 3", with: "epochs = 60").replacingOccurrences(
            of: "samples = 100", with: "samples = 400")
        let a = try s.submit(long, token: "alice-token"), b = try s.submit(long, token: "bob-token")
        #expect(try s.wait(a, token: "alice-token")["state"] as? String == "succeeded")
        #expect(try s.wait(b, token: "bob-token")["state"] as? String == "succeeded")
        func interval(_ id: String, _ token: String) throws -> (Double, Double) {
            let text = try s.request("GET", "/v1/jobs/\(id)/events", token: token).text
            func t(_ event: String) -> Double {
                let line = text.split(separator: "\n").first { $0.contains("\"event\":\"\(event)\"") && $0.contains("\"training\"") } ?? ""
                let o = (try? JSONSerialization.jsonObject(with: Data(line.dropFirst("data: ".count).utf8))) as? [String: Any]
                return o?["t"] as? Double ?? -1
            }
            return (t("task_started"), t("task_finished"))
        }
        let x = try interval(a, "alice-token"), y = try interval(b, "bob-token")
        #expect(x.0 > 0 && y.0 > 0)
        #expect(x.1 <= y.0 || y.1 <= x.0, "alice trained \(x), bob \(y): they overlapped")
    }

    /// An agent's memory limit holds across its jobs: two 80 MB tasks of alice's under a 100 MB
    /// limit, in two workers, run one after the other.
    @Test func anAgentsMemoryLimitHoldsAcrossItsJobs() throws {
        let s = try Server(profile: "learning: {history: none}\nagents:\n  alice: {max_memory_mb: 100}\n  bob: {}\n  ops: {}\n")
        let job = training.replacingOccurrences(of: "epochs = 3}", with: "epochs = 60, memory_mb = 80}")
            .replacingOccurrences(of: "samples = 100", with: "samples = 400")
        let a = try s.submit(job, token: "alice-token"), b = try s.submit(job, token: "alice-token")
        for id in [a, b] { #expect(try s.wait(id, token: "alice-token")["state"] as? String == "succeeded") }
        func interval(_ id: String) throws -> (Double, Double) {
            let text = try s.request("GET", "/v1/jobs/\(id)/events", token: "alice-token").text
            func t(_ event: String) -> Double {
                let line = text.split(separator: "\n").first { $0.contains("\"event\":\"\(event)\"") && $0.contains("\"training\"") } ?? ""
                return ((try? JSONSerialization.jsonObject(with: Data(line.dropFirst("data: ".count).utf8))) as? [String: Any])?["t"]
                    as? Double ?? -1
            }
            return (t("task_started"), t("task_finished"))
        }
        let x = try interval(a), y = try interval(b)
        #expect(x.0 > 0 && y.0 > 0 && (x.1 <= y.0 || y.1 <= x.0), "alice's two 80 MB tasks overlapped: \(x) \(y)")
    }

    /// The allocator in each worker enforces what the agent may hold across all its jobs: with a
    /// 40 MB limit and 30 MB reserved by a running job, a second job's 25 MB of tensors is refused.
    @Test func anAgentsTensorQuotaSpansItsJobs() throws {
        let s = try Server(profile: "learning: {history: none}\nagents:\n  alice: {max_memory_mb: 40}\n  bob: {}\n  ops: {}\n")
        // Long enough to be running throughout (it is cancelled at the end), however fast training is.
        let holder = training.replacingOccurrences(of: "epochs = 3}", with: "epochs = 1000000, memory_mb = 30}")
            .replacingOccurrences(of: "samples = 100", with: "samples = 400")
        let a = try s.submit(holder, token: "alice-token")
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, (try s.request("GET", "/v1/jobs/\(a)", token: "alice-token").json["state"] as? String) != "running" {
            Thread.sleep(forTimeInterval: 0.05)
        }
        Thread.sleep(forTimeInterval: 0.3)
        let big = """
            local gpu = require "gpu"
            local ds = gpu.data.blobs{samples = 64, features = 1024, centers = 2, seed = 1}
            local r = gpu.submit(gpu.training{model = gpu.nn.mlp{inputs = 1024, hidden = {2048}, outputs = 2, seed = 1}, data = ds, epochs = 1, memory_mb = 8}):await()
            print("trained")
            """
        let b = try s.submit(big, token: "alice-token")
        let jb = try s.wait(b, token: "alice-token")
        // Past its memory limit is a limit (exit 3), as it is in `gpuflow run`.
        #expect(jb["state"] as? String == "limit" && jb["exit_code"] as? Int == 3, "\(jb)")
        #expect((jb["reason"] as? String)?.contains("agent alice") == true, "\(jb)")
        // The same job from an agent without a limit trains.
        let c = try s.submit(big, token: "bob-token")
        #expect(try s.wait(c, token: "bob-token")["state"] as? String == "succeeded")
        _ = try s.request("DELETE", "/v1/jobs/\(a)", token: "alice-token")
    }

    /// Under time_sliced, the server grants slices across jobs: two agents' jobs take turns.
    @Test func timeSlicesAreSharedAcrossJobs() throws {
        let s = try Server(profile: "learning: {history: none}\ncoordination: {pattern: time_sliced, time_slice_ms: 30}\n")
        let long = training.replacingOccurrences(of: "epochs = 3", with: "epochs = 80").replacingOccurrences(
            of: "samples = 100", with: "samples = 400")
        let a = try s.submit(long, token: "alice-token"), b = try s.submit(long, token: "bob-token")
        #expect(try s.wait(a, token: "alice-token")["state"] as? String == "succeeded")
        #expect(try s.wait(b, token: "bob-token")["state"] as? String == "succeeded")
        let metrics = try s.request("GET", "/metrics").text
        func value(_ name: String, _ agent: String) -> Double {
            metrics.split(separator: "\n").first { $0.hasPrefix("\(name){agent=\"\(agent)\"}") }
                .flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
        }
        for agent in ["alice", "bob"] {
            let n = value("gpuflow_time_slices_total", agent), sum = value("gpuflow_time_slice_seconds_total", agent)
            #expect(n >= 3, "\(agent) got \(n) slices:\n\(metrics)")
            #expect(n == 0 || (sum / n > 0.02 && sum / n < 0.3), "\(agent)'s mean slice \(n > 0 ? sum / n : 0) s for 30 ms slices")
        }
    }

    @Test func submissionsAreRateLimitedPerAgent() throws {
        let s = try Server(extra: ["--rate-limit", "3"])
        let body = try JSONSerialization.data(withJSONObject: ["script": "print(1)"])
        let codes = try (0..<5).map { _ in try s.request("POST", "/v1/jobs", token: "alice-token", body: body).status }
        #expect(codes.prefix(3).allSatisfy { $0 == 201 } && codes.suffix(2).allSatisfy { $0 == 429 }, "\(codes)")
        #expect(try s.request("POST", "/v1/jobs", token: "bob-token", body: body).status == 201, "another agent has its own budget")
        let limited = try s.request("POST", "/v1/jobs", token: "alice-token", body: body)
        #expect((limited.json["error"] as? [String: Any])?["code"] as? String == "rate_limited")
    }

    @Test func theOpenAPIFileDescribesEveryRoute() throws {
        let text = try String(contentsOf: TestPaths.repository.appendingPathComponent("openapi.yaml"), encoding: .utf8)
        for path in [
            "/v1/jobs:", "/v1/jobs/{id}:", "/v1/jobs/{id}/events:", "/v1/jobs/{id}/resume:", "/v1/runs/{id}/report:", "/metrics:",
            "/healthz:",
        ] {
            #expect(text.contains("  \(path)\n"), "openapi.yaml lacks \(path)")
        }
    }

    @Test func theDashboardShowsASubmittedJobCompleting() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium") else {
            Issue.record("chromium is not installed (scripts/lib/setup.sh installs it)")
            return
        }
        let s = try Server()
        let id = try s.submit(training, token: "alice-token")
        _ = try s.wait(id, token: "alice-token")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/chromium")
        p.arguments = [
            "--headless", "--disable-gpu", "--no-sandbox", "--virtual-time-budget=3000", "--dump-dom",
            "http://127.0.0.1:\(s.port)/#token=alice-token",
        ]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let dom = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(dom.contains("id=\"job-\(id)\"") && dom.contains("data-state=\"succeeded\""), "\(dom.prefix(2000))")
    }
}
