import Foundation
import GPUFlowTesting
import Testing

/// `gpuflow job ...` against a real `gpuflow serve`: a job submitted and followed to its end
/// exits with the job's code and prints its output; status, list, logs, report and cancel
/// read what the server has; a missing job, a wrong token and no token are errors, exit 2.
extension JobServerTests {
    @Test func theJobClientSubmitsFollowsAndReads() throws {
        let s = try Server()
        defer { s.stop() }
        let url = "http://127.0.0.1:\(s.port)"
        let tokenFile = s.dir.appendingPathComponent("alice.token").path
        try "alice-token\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let script = s.dir.appendingPathComponent("job.lua").path
        try "print('hello', arg[1])\nfor i = 1, 3 do print('line', i) end\nerror('the end')\n".write(
            toFile: script, atomically: true, encoding: .utf8)
        let conn = ["--server", url, "--token-file", tokenFile]
        let run = try CLIRunner.run(["job", "submit", script, "--wait"] + conn + ["--", "world"])
        #expect(run.status == 1, "the job's own exit code: \(run.stderr)")
        #expect(run.stdout.contains("hello\tworld") && run.stdout.contains("line\t3"), "\(run.stdout)")
        #expect(run.stderr.contains("failed, exit 1"), "\(run.stderr)")
        let list = try CLIRunner.run(["job", "list", "--json"] + conn)
        let jobs = try #require(
            (try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any])?["jobs"] as? [[String: Any]])
        let id = try #require(jobs.first?["id"] as? String)
        #expect(jobs.first?["state"] as? String == "failed" && jobs.first?["exit_code"] as? Int == 1)
        let status = try CLIRunner.run(["job", "status", id] + conn)
        #expect(status.status == 0 && status.stdout.contains("\(id)  failed exit 1  agent alice"), "\(status.stdout)")
        // The token from the environment instead of a file.
        let logs = try CLIRunner.run(["job", "logs", id, "--server", url], environment: ["GPUFLOW_TOKEN": "alice-token"])
        #expect(logs.status == 0 && logs.stdout.contains("line\t2"), "\(logs.stderr)")
        let report = s.dir.appendingPathComponent("r.html").path
        #expect(try CLIRunner.run(["job", "report", id, "-o", report] + conn).status == 0)
        #expect((try String(contentsOfFile: report, encoding: .utf8)).contains("the end"))
        // A job that runs until cancelled.
        let loop = s.dir.appendingPathComponent("loop.lua").path
        try "while true do end\n".write(toFile: loop, atomically: true, encoding: .utf8)
        let queued = try CLIRunner.run(["job", "submit", loop, "--json"] + conn)
        let loopID = try #require((try JSONSerialization.jsonObject(with: Data(queued.stdout.utf8)) as? [String: Any])?["id"] as? String)
        let cancel = try CLIRunner.run(["job", "cancel", loopID, "--json"] + conn)
        #expect((try JSONSerialization.jsonObject(with: Data(cancel.stdout.utf8)) as? [String: Any])?["cancelled"] as? Bool == true)
        // Errors: a missing job, a wrong token, no token at all.
        let missing = try CLIRunner.run(["job", "status", "nope"] + conn)
        #expect(missing.status == 2 && missing.firstErrorLine.contains("404"), "\(missing.stderr)")
        let wrong = try CLIRunner.run(["job", "list", "--server", url], environment: ["GPUFLOW_TOKEN": "not-a-token"])
        #expect(wrong.status == 2 && wrong.firstErrorLine.contains("401"), "\(wrong.stderr)")
        let none = try CLIRunner.run(["job", "list", "--server", url], environment: ["GPUFLOW_TOKEN": ""])
        #expect(none.status == 2 && none.firstErrorLine.contains("--token-file"))
    }
}
