import Foundation
import GPUFlowTesting
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `gpuflow serve` against hostile agents and clients (issue 14): forged worker events, run ids
/// that are patterns, descriptor leaks, oversized and stalled requests, racing resumes, a second
/// server on the same store, jobs that outlive their wall-time limit.
@Suite(.serialized) struct JobServerAbuseTests {
    typealias Server = JobServerTests.Server

    // MARK: Helpers

    /// A raw TCP connection to the server, for requests no HTTP client would make.
    final class RawConnection {
        let fd: Int32
        init(port: Int) throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let status = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard status == 0 else { throw NSError(domain: "connect failed (errno \(errno))", code: 1) }
        }
        deinit { close(fd) }

        /// False once the peer has closed (the write fails).
        @discardableResult
        func send(_ text: String) -> Bool {
            let bytes = Array(text.utf8)
            return bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
        }

        /// What arrives within `seconds`, and whether the peer closed the connection by then.
        func read(for seconds: Double, untilClosed: Bool = true) -> (text: String, closed: Bool) {
            var data = [UInt8]()
            let end = Date().addingTimeInterval(seconds)
            var buffer = [UInt8](repeating: 0, count: 4096)
            while Date() < end {
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let ms = Int32(max(1, end.timeIntervalSinceNow * 1000))
                guard poll(&p, 1, ms) > 0 else { continue }
                let n = recv(fd, &buffer, buffer.count, 0)
                if n <= 0 { return (String(decoding: data, as: UTF8.self), true) }
                data += buffer[0..<n]
                if !untilClosed { break }
            }
            return (String(decoding: data, as: UTF8.self), false)
        }
    }

    static func descriptors(_ pid: Int32) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []).compactMap { name in
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(name)")).map { "\(name) -> \($0)" }
        }
    }

    /// The pids whose parent is `pid`.
    static func children(of pid: Int32) -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { name -> Int32? in
            guard let child = Int32(name), let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == pid ? child : nil
        }
    }

    /// The process's state letter (R, S, Z...), nil once it is gone.
    static func state(_ pid: Int32) -> Character? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else {
            return nil
        }
        return stat[stat.index(after: close)...].dropFirst().first
    }

    static func events(_ s: Server, _ id: String, token: String) throws -> [[String: Any]] {
        try s.request("GET", "/v1/jobs/\(id)/events", token: token).text.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("data: ") else { return nil }
            return (try? JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8))) as? [String: Any]
        }
    }

    static func waitUntil(_ seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return try condition()
    }

    private let quick = "local x = 0 for i = 1, 1000 do x = x + i end print(x)"

    // MARK: Section 1: worker events, run ids, ownership, resume

    /// bob's script raises an error whose text holds forged worker events (run_started naming
    /// `%`, alice's run, an operator's unsandboxed run; an output; a job_finished), then bob
    /// resumes the job. The server keeps the run id it chose; bob reads no report but his own;
    /// the resume continues bob's own run, sandboxed: alice's output and the operator's `io`
    /// write never happen again.
    @Test func forgedWorkerEventsReachNoOtherRun() throws {
        let s = try Server()
        let alice = try s.submit("print('alice-secret')", token: "alice-token")
        let aliceJob = try s.wait(alice, token: "alice-token")
        let aliceRun = try #require(aliceJob["run_id"] as? String)
        #expect(aliceJob["output"] as? String == "alice-secret\n")
        // An operator's run, unsandboxed, recorded in the server's store: it writes a file with
        // io and fails (so it could be resumed).
        let marker = s.dir.appendingPathComponent("operator-ran").path
        let op = try TestPaths.write(
            "local f = assert(io.open(..., 'w')) f:write('operator') f:close() error('operator run fails')", name: "operator.lua")
        let opRun = "r-operator-\(Int.random(in: 1000..<9999))"
        let ran = try CLIRunner.run(["run", op, "--store", s.store, "--run-id", opRun, "--", marker])
        #expect(ran.status == 1 && FileManager.default.fileExists(atPath: marker), "\(ran.stderr)")
        try FileManager.default.removeItem(atPath: marker)

        let forge = """
            local target = ...
            error("\\n{\\"event\\":\\"run_started\\",\\"run\\":\\"" .. target .. "\\"}\\n{\\"event\\":\\"output\\",\\"text\\":\\"FORGED\\"}\\n" ..
                  "{\\"event\\":\\"job_finished\\",\\"state\\":\\"succeeded\\",\\"exit_code\\":0}\\n", 0)
            """
        for target in ["%", aliceRun, opRun, String(aliceRun.prefix(3))] {
            let bob = try s.submit(forge, token: "bob-token", arguments: [target])
            let job = try s.wait(bob, token: "bob-token")
            let run = try #require(job["run_id"] as? String)
            #expect(job["state"] as? String == "failed" && run != target && run.hasPrefix("r"), "\(target): \(job)")
            #expect((job["output"] as? String)?.contains("FORGED") == false, "\(target): a forged output event was taken: \(job)")
            let events = try Self.events(s, bob, token: "bob-token")
            #expect(!events.contains { $0["event"] as? String == "run_started" && $0["run"] as? String != run }, "\(target): \(events)")
            #expect(
                events.filter { $0["event"] as? String == "job_finished" }.map { $0["state"] as? String } == ["failed"],
                "\(target): \(events)")
            #expect(
                events.contains { $0["event"] as? String == "log" && ($0["text"] as? String)?.contains("FORGED") == true },
                "the forged lines are kept as text")
            for other in [target, aliceRun, opRun] {
                let path = "/v1/runs/\(other.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? other)/report"
                #expect(try s.request("GET", path, token: "bob-token").status == 404, "bob read the report of \(other)")
            }
            #expect(try s.request("GET", "/v1/runs/\(run)/report", token: "bob-token").status == 200, "bob reads his own run's report")

            let r = try s.request("POST", "/v1/jobs/\(bob)/resume", token: "bob-token")
            #expect(r.status == 201 && r.json["reason"] as? String == "resumes \(bob) (run \(run))", "\(target): \(r.text)")
            let again = try s.wait(r.json["id"] as? String ?? "", token: "bob-token")
            #expect(again["state"] as? String == "failed" && again["agent"] as? String == "bob", "\(target): \(again)")
            let output = again["output"] as? String ?? ""
            #expect(!output.contains("alice-secret") && !output.contains("FORGED"), "\(target): \(again)")
            #expect(!FileManager.default.fileExists(atPath: marker), "\(target): bob's resume re-ran the operator's unsandboxed run")
        }
        #expect(try s.request("GET", "/v1/runs/\(aliceRun)/report", token: "alice-token").status == 200)
    }

    /// Run lookup in the CLI takes an exact id or an unambiguous prefix, compared as text: `%`
    /// and `_` are no patterns, a prefix of two runs is an error naming both.
    @Test func runIdsAreExactOrUnambiguousPrefixes() throws {
        let box = try CLISandbox()
        let script = try box.write("one.lua", "print(1)")
        #expect(try box.run(["run", script, "--run-id", "rtest-aa1"]).status == 0)
        for pattern in ["%", "_test-aa1", "rtest%", "r_est-aa1"] {
            let r = try box.run(["runs", "show", pattern])
            #expect(r.status == 2 && r.stderr.contains("no run '\(pattern)'"), "\(pattern): \(r.status) \(r.stdout) \(r.stderr)")
        }
        #expect(try box.run(["runs", "show", "rtest-a"]).status == 0, "a unique prefix")
        #expect(try box.run(["run", script, "--run-id", "rtest-aa2"]).status == 0)
        let ambiguous = try box.run(["runs", "show", "rtest-aa"])
        #expect(
            ambiguous.status == 2 && ambiguous.stderr.contains("rtest-aa1") && ambiguous.stderr.contains("rtest-aa2"), "\(ambiguous.stderr)"
        )
        #expect(try box.run(["runs", "show", "rtest-aa2"]).status == 0, "an exact id")
        for bad in ["%", "a b", "../x", "-x", String(repeating: "a", count: 65)] {
            #expect(try box.run(["run", script, "--run-id", bad]).status == 2, "--run-id \(bad)")
        }
        #expect(try box.run(["run", script, "--run-id", "rtest-aa2"]).status == 2, "a run id already recorded is refused")
    }

    /// The resumed worker is sandboxed as the job's agent (it ran without --sandbox, `io` and
    /// all, before).
    @Test func aResumedJobIsSandboxedAsItsAgent() throws {
        let s = try Server()
        let id = try s.submit(
            "local ok, lib = pcall(function() return io end) if ok and lib then print('io is here') end error('stop')",
            token: "bob-token")
        let job = try s.wait(id, token: "bob-token")
        #expect(job["state"] as? String == "failed")
        let r = try s.request("POST", "/v1/jobs/\(id)/resume", token: "bob-token")
        let again = try s.wait(r.json["id"] as? String ?? "", token: "bob-token")
        #expect(again["state"] as? String == "failed" && (again["output"] as? String) == "", "\(again)")
        #expect((again["reason"] as? String)?.contains("stop") == true, "\(again)")
        let notMine = try s.request("POST", "/v1/jobs/\(id)/resume", token: "alice-token")
        #expect(notMine.status == 404, "another agent's job does not resume")
    }

    // MARK: Section 6: the server under abuse

    /// The server's descriptors do not grow with the jobs it has run (one pipe leaked per job).
    @Test func descriptorsDoNotLeakPerJob() throws {
        let s = try Server()
        func runJobs(_ n: Int) throws {
            let ids = try (0..<n).map { i in
                try s.submit(i % 3 == 0 ? quick : i % 3 == 1 ? "error('no')" : "while true do end", token: "alice-token")
            }
            for (i, id) in ids.enumerated() where i % 3 == 2 { _ = try s.request("DELETE", "/v1/jobs/\(id)", token: "alice-token") }
            for id in ids { _ = try s.wait(id, token: "alice-token") }
        }
        try runJobs(9)
        Thread.sleep(forTimeInterval: 0.5)
        let before = Self.descriptors(s.pid)
        try runJobs(30)
        Thread.sleep(forTimeInterval: 0.5)
        let after = Self.descriptors(s.pid)
        #expect(
            after.count <= before.count + 6,
            "\(before.count) descriptors before 30 jobs, \(after.count) after:\n\(Set(after).subtracting(before).sorted())")
        #expect(try s.request("GET", "/healthz").status == 200)
    }

    /// A POST declaring a 1 GB body is refused with 413 at once, without a byte of the body
    /// read, and its connection is closed; authenticated or not.
    @Test func anOversizedBodyIsRefusedBeforeItIsRead() throws {
        let s = try Server()
        for auth in ["Authorization: Bearer alice-token\r\n", ""] {
            let c = try RawConnection(port: s.port)
            let started = Date()
            c.send(
                "POST /v1/jobs HTTP/1.1\r\nHost: localhost\r\n\(auth)Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n{\"scr"
            )
            let (text, closed) = c.read(for: 10)
            #expect(text.hasPrefix("HTTP/1.1 413") && text.contains("\"too_large\""), "\(text)")
            #expect(closed && Date().timeIntervalSince(started) < 10, "the connection stayed open")
        }
        let chunked = try RawConnection(port: s.port)
        chunked.send("POST /v1/jobs HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer alice-token\r\nTransfer-Encoding: chunked\r\n\r\n")
        let chunk = String(repeating: "x", count: 64 << 10)
        for _ in 0..<6 { chunked.send(String(format: "%x\r\n", chunk.utf8.count) + chunk + "\r\n") }
        let (text, _) = chunked.read(for: 10, untilClosed: false)
        #expect(text.hasPrefix("HTTP/1.1 413"), "a body without a declared length is bounded as it is read: \(text.prefix(200))")
    }

    /// Idle connections, headers sent a byte at a time and bodies that trickle are all closed
    /// (here within the 1 s idle and 2 s request timeouts given; 70 s and more before).
    @Test func idleAndStalledConnectionsAreClosed() throws {
        let s = try Server(extra: ["--idle-timeout", "1", "--request-timeout", "2"])
        let idle = try RawConnection(port: s.port)
        #expect(idle.read(for: 8).closed, "an idle connection stayed open")

        let slowHeaders = try RawConnection(port: s.port)
        let headers = "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Padding: " + String(repeating: "a", count: 40) + "\r\n\r\n"
        var open = true, sent = 0
        let started = Date()
        for ch in headers where open && Date().timeIntervalSince(started) < 10 {
            open = slowHeaders.send(String(ch))
            if open { sent += 1 }
            Thread.sleep(forTimeInterval: 0.2)
        }
        #expect(
            sent < headers.count || slowHeaders.read(for: 1).closed,
            "headers trickled over \(Date().timeIntervalSince(started)) s were served")

        let slowBody = try RawConnection(port: s.port)
        slowBody.send("POST /v1/jobs HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer alice-token\r\nContent-Length: 200\r\n\r\n")
        var bodySent = 0
        let bodyStarted = Date()
        while bodySent < 200, Date().timeIntervalSince(bodyStarted) < 15, slowBody.send(" ") {
            bodySent += 1
            Thread.sleep(forTimeInterval: 0.3)
        }
        #expect(bodySent < 200, "a body trickled over \(Date().timeIntervalSince(bodyStarted)) s was still being read")
        #expect(try s.request("GET", "/healthz").status == 200)
    }

    /// Six resumes of one job at once make one new job (201), the others answer with it (200);
    /// resumes draw on the agent's submission budget.
    @Test func resumesAreIdempotentAndRateLimited() throws {
        let s = try Server()
        let id = try s.submit("error('fails')", token: "alice-token")
        #expect(try s.wait(id, token: "alice-token")["state"] as? String == "failed")
        let group = DispatchGroup()
        let lock = NSLock()
        nonisolated(unsafe) var answers: [(Int, String)] = []
        nonisolated(unsafe) let server = s
        for _ in 0..<6 {
            group.enter()
            DispatchQueue.global().async {
                let r = try? server.request("POST", "/v1/jobs/\(id)/resume", token: "alice-token")
                lock.lock()
                answers.append((r?.status ?? 0, r?.json["id"] as? String ?? ""))
                lock.unlock()
                group.leave()
            }
        }
        group.wait()
        _ = server
        #expect(answers.filter { $0.0 == 201 }.count == 1 && answers.filter { $0.0 == 200 }.count == 5, "\(answers)")
        #expect(Set(answers.map(\.1)).count == 1, "\(answers)")
        let list = try s.request("GET", "/v1/jobs", token: "alice-token").json["jobs"] as? [[String: Any]] ?? []
        #expect(list.count == 2, "one job and one resume: \(list.map { $0["id"] ?? "" })")

        let limited = try Server(extra: ["--rate-limit", "3"])
        let job = try limited.submit("error('fails')", token: "alice-token")
        _ = try limited.wait(job, token: "alice-token")
        let codes = try (0..<4).map { _ in try limited.request("POST", "/v1/jobs/\(job)/resume", token: "alice-token").status }
        #expect(codes == [201, 200, 429, 429], "\(codes)")
        #expect(try limited.request("POST", "/v1/jobs/\(job)/resume", token: "bob-token").status == 404)
    }

    /// A second `serve` on the same store fails before touching a job: the live server's
    /// running job stays running.
    @Test func aSecondServerLeavesTheLiveOnesJobsAlone() throws {
        let s = try Server()
        let id = try s.submit("while true do end", token: "alice-token")
        #expect(
            try Self.waitUntil(10) { try s.request("GET", "/v1/jobs/\(id)", token: "alice-token").json["state"] as? String == "running" })
        let second = try CLIRunner.run([
            "serve", "--tokens", s.dir.appendingPathComponent("tokens.yaml").path, "--store", s.store,
            "--port", String(s.port + 1), "--profile", s.dir.appendingPathComponent("jobs.yaml").path,
        ])
        #expect(second.status == 2 && second.stderr.contains("another gpuflow serve (pid \(s.pid))"), "\(second.status) \(second.stderr)")
        #expect(try s.request("GET", "/v1/jobs/\(id)", token: "alice-token").json["state"] as? String == "running")
        _ = try s.request("DELETE", "/v1/jobs/\(id)", token: "alice-token")
        #expect(try s.wait(id, token: "alice-token")["state"] as? String == "cancelled")
    }

    /// A job cancelled while queued ends with its job_finished event and is counted.
    @Test func aJobCancelledWhileQueuedFinishes() throws {
        let s = try Server(maxRunning: 1)
        let blocker = try s.submit("while true do end", token: "alice-token")
        let queued = try s.submit(quick, token: "alice-token")
        #expect(try s.request("GET", "/v1/jobs/\(queued)", token: "alice-token").json["state"] as? String == "queued")
        #expect(try s.request("DELETE", "/v1/jobs/\(queued)", token: "alice-token").json["cancelled"] as? Bool == true)
        let events = try Self.events(s, queued, token: "alice-token")
        #expect(events.last?["event"] as? String == "job_finished" && events.last?["state"] as? String == "cancelled", "\(events)")
        #expect(try s.request("GET", "/metrics").text.contains("gpuflow_jobs_finished_total{state=\"cancelled\"} 1"))
        _ = try s.request("DELETE", "/v1/jobs/\(blocker)", token: "alice-token")
        #expect(try s.wait(blocker, token: "alice-token")["state"] as? String == "cancelled")
        #expect(try s.request("GET", "/metrics").text.contains("gpuflow_jobs_finished_total{state=\"cancelled\"} 2"))
    }

    /// Two of bob's jobs that nothing inside their workers can stop (stopped with SIGSTOP, so no
    /// hook or watchdog in the worker runs) hold both slots; the server's deadline (wall_s 2 s +
    /// 1 s grace) kills them, state limit, and alice's job, queued behind them, runs.
    @Test func theServerKillsAJobPastItsDeadline() throws {
        let s = try Server(
            profile: "learning: {history: none}\nsandbox: {instructions: 2000000000, memory_mb: 64, wall_s: 2}\n",
            extra: ["--deadline-grace", "1"], maxRunning: 2)
        let bob = try (0..<2).map { _ in try s.submit("while true do end", token: "bob-token") }
        var stopped: Set<Int32> = []
        _ = Self.waitUntil(5) {
            for w in Self.children(of: s.pid) where !stopped.contains(w) {
                kill(w, SIGSTOP)
                stopped.insert(w)
            }
            return stopped.count == 2
        }
        #expect(stopped.count == 2, "found \(stopped.count) workers")
        let alice = try s.submit(quick, token: "alice-token")
        for id in bob {
            let j = try s.wait(id, token: "bob-token")
            #expect(j["state"] as? String == "limit" && (j["reason"] as? String)?.contains("wall-time limit") == true, "\(j)")
            #expect((j["ended_at"] as? Double ?? 0) - (j["started_at"] as? Double ?? 0) < 10, "\(j)")
        }
        let a = try s.wait(alice, token: "alice-token")
        #expect(a["state"] as? String == "succeeded" && a["output"] as? String == "500500\n", "\(a)")
        #expect(stopped.allSatisfy { Self.state($0) == nil || Self.state($0) == "Z" }, "a stopped worker survived")
    }

    /// Workers end within a fraction of a second when their server is killed.
    @Test func workersDieWithTheirServer() throws {
        let s = try Server(maxRunning: 2)
        for _ in 0..<2 { _ = try s.submit("while true do end", token: "alice-token") }
        #expect(Self.waitUntil(10) { Self.children(of: s.pid).count == 2 })
        let workers = Self.children(of: s.pid)
        kill(s.pid, SIGKILL)
        let started = Date()
        // An exited worker may stay a zombie until PID 1 reaps it: exited is what counts.
        let exited = Self.waitUntil(5) { workers.allSatisfy { Self.state($0) == nil || Self.state($0) == "Z" } }
        let seconds = Date().timeIntervalSince(started)
        #expect(exited && seconds < 1, "workers still running \(seconds) s after the server died")
        s.process?.waitUntilExit()
        s.process = nil
    }

    /// Events that arrive while another process holds the store locked (longer than the
    /// store's 5 s busy timeout) are kept and written once it is free: none is lost.
    @Test func eventsWaitForALockedStore() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") else {
            Issue.record("python3 is needed to lock the store")
            return
        }
        let s = try Server(profile: "learning: {history: none}\nsandbox: {instructions: 2000000000, memory_mb: 64, wall_s: 60}\n")
        let script = "for i = 1, 30 do local t = os.clock() while os.clock() - t < 0.1 do end print(i) end"
        let id = try s.submit(script, token: "alice-token")
        // Locked once the script prints (its worker has recorded the start of its run).
        #expect(
            try Self.waitUntil(20) {
                (try s.request("GET", "/v1/jobs/\(id)", token: "alice-token").json["output"] as? String)?.isEmpty == false
            })
        let locker = Process()
        locker.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        locker.arguments = [
            "-c",
            "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], isolation_level=None); c.execute('BEGIN EXCLUSIVE'); time.sleep(7); c.execute('COMMIT')",
            s.store,
        ]
        try locker.run()
        locker.waitUntilExit()
        let job = try s.wait(id, token: "alice-token")
        let expected = (1...30).map { "\($0)\n" }.joined()
        #expect(job["output"] as? String == expected && job["state"] as? String == "succeeded", "\(job)")
        #expect(try Self.waitUntil(10) { try s.request("GET", "/metrics").text.contains("gpuflow_store_writes_waiting 0") })
        // What the store holds, read back after a restart.
        s.stop()
        try s.start()
        let stored = try s.request("GET", "/v1/jobs/\(id)", token: "alice-token").json
        #expect(stored["output"] as? String == expected && stored["state"] as? String == "succeeded", "\(stored)")
    }

    /// With few descriptors left, a job whose worker cannot start fails with the reason; the
    /// server keeps serving, and job ids stay random.
    @Test func aFailedSpawnFailsTheJobNotTheServer() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/prlimit") else {
            Issue.record("prlimit (util-linux) is needed to lower the server's descriptor limit")
            return
        }
        let s = try Server(maxRunning: 8)
        // The soft limit only, so it can be raised again.
        func limit(_ n: String) throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/prlimit")
            p.arguments = ["--pid", String(s.pid), "--nofile=\(n):"]
            try p.run()
            p.waitUntilExit()
        }
        let limits = try String(contentsOfFile: "/proc/\(s.pid)/limits", encoding: .utf8)
        let soft = try #require(
            limits.split(separator: "\n").first { $0.hasPrefix("Max open files") }?
                .split(separator: " ", omittingEmptySubsequences: true).dropFirst(3).first)
        _ = try s.request("GET", "/healthz")
        try limit(String(Self.descriptors(s.pid).count + 10))
        let ids = try (0..<8).map { _ in try s.submit("local t = os.clock() while os.clock() - t < 1 do end print(1)", token: "alice-token")
        }
        let jobs = try ids.map { try s.wait($0, token: "alice-token") }
        let failed = jobs.filter { ($0["reason"] as? String)?.contains("cannot start a worker") == true }
        #expect(!failed.isEmpty && jobs.allSatisfy { ["succeeded", "failed"].contains($0["state"] as? String ?? "") }, "\(jobs)")
        #expect(try s.request("GET", "/healthz").status == 200, "the server kept serving")
        #expect(Set(ids).count == ids.count && ids.allSatisfy { $0.count == 17 && !$0.hasPrefix("j00000000") }, "\(ids)")
        try limit(String(soft))
        let after = try s.submit(quick, token: "alice-token")
        #expect(try s.wait(after, token: "alice-token")["state"] as? String == "succeeded")
    }

    /// What a job can make the server store is bounded: epoch events past --max-epoch-events
    /// (10,000 by default, 100 here) keep only each task's last epoch; printed text past 16 KiB a
    /// line is cut.
    @Test func aJobsStoredEventsAreBounded() throws {
        let s = try Server(
            profile: "learning: {history: none}\nsandbox: {instructions: 2000000000, memory_mb: 64, wall_s: 60}\n",
            extra: ["--max-epoch-events", "100"])
        let train = """
            local gpu = require "gpu"
            local ds = gpu.data.blobs{samples = 8, features = 2, centers = 2, seed = 1}
            gpu.submit(gpu.training{model = gpu.nn.mlp{inputs = 2, hidden = {2}, outputs = 2, seed = 1}, data = ds, epochs = 150, batch_size = 8}):await()
            error(string.rep("x", 100000))
            """
        let id = try s.submit(train, token: "alice-token")
        let job = try s.wait(id, token: "alice-token")
        #expect(job["state"] as? String == "failed", "\(job)")
        let events = try Self.events(s, id, token: "alice-token")
        let epochs = events.filter { $0["event"] as? String == "epoch" }
        #expect(epochs.count == 101 && epochs.last?["epoch"] as? Int == 150, "\(epochs.count) epoch events")
        let longest = events.filter { $0["event"] as? String == "log" }.map { ($0["text"] as? String)?.utf8.count ?? 0 }.max() ?? 0
        #expect(longest > 0 && longest <= (16 << 10) + 8, "a log line of \(longest) bytes")
    }

    /// Every authenticated route answers 401 without a token; unknown routes and methods answer
    /// with the error shape (404, 405 with Allow); an empty script is refused.
    @Test func everyErrorHasTheOneShape() throws {
        let s = try Server()
        for (method, path) in [
            ("GET", "/v1/jobs"), ("POST", "/v1/jobs"), ("GET", "/v1/jobs/x"), ("DELETE", "/v1/jobs/x"),
            ("POST", "/v1/jobs/x/resume"), ("GET", "/v1/jobs/x/events"), ("GET", "/v1/runs/x/report"),
        ] {
            let r = try s.request(method, path, body: method == "POST" ? Data("{}".utf8) : nil)
            #expect(
                r.status == 401 && (r.json["error"] as? [String: Any])?["code"] as? String == "unauthorized", "\(method) \(path): \(r.text)"
            )
        }
        let unknown = try s.request("GET", "/v2/nothing", token: "alice-token")
        #expect(unknown.status == 404 && (unknown.json["error"] as? [String: Any])?["code"] as? String == "not_found", "\(unknown.text)")
        let method = try s.request("PUT", "/v1/jobs", token: "alice-token")
        #expect(
            method.status == 405 && (method.json["error"] as? [String: Any])?["code"] as? String == "method_not_allowed", "\(method.text)")
        let empty = try s.request("POST", "/v1/jobs", token: "alice-token", body: Data("{\"script\": \"\"}".utf8))
        #expect(empty.status == 400 && (empty.json["error"] as? [String: Any])?["code"] as? String == "missing_script")
        // Sixty arguments once crashed a worker (signal 11); past the limit the server says so at once.
        let many = try JSONSerialization.data(withJSONObject: [
            "script": "print(select('#', ...))", "arguments": (1...300).map(String.init),
        ])
        let refused = try s.request("POST", "/v1/jobs", token: "alice-token", body: many)
        #expect(
            refused.status == 400 && (refused.json["error"] as? [String: Any])?["code"] as? String == "bad_arguments", "\(refused.text)")
        let sixty = try JSONSerialization.data(withJSONObject: [
            "script": "print(select('#', ...))", "arguments": (1...60).map(String.init),
        ])
        let accepted = try s.request("POST", "/v1/jobs", token: "alice-token", body: sixty)
        #expect(accepted.status == 201, "\(accepted.text)")
    }
}
