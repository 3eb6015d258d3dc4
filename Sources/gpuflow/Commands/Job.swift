import ArgumentParser
import Foundation
import GPUFlowCore

/// `gpuflow job submit|status|logs|cancel|list|report`: a job server's client, as `ray job`
/// is Ray's. The server and token come from options or the environment; exit codes are
/// `run`'s (a followed job ends the command with the job's own exit code).
struct Job: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job", abstract: "Submit Lua jobs to a gpuflow job server and follow them.",
        subcommands: [Submit.self, Status.self, Logs.self, Cancel.self, List.self, Report.self])

    struct Connection: ParsableArguments {
        @Option(help: "The job server, http://HOST:PORT (default: $GPUFLOW_SERVER).") var server: String?
        @Option(help: "A file holding the agent's token (default: $GPUFLOW_TOKEN).") var tokenFile: String?
        @Flag(help: "Print JSON (errors too).") var json = false
        var errors: JSONErrors { JSONErrors(enabled: json) }
        func client() -> JobClient { JobClient.make(server: server, tokenFile: tokenFile, errors: errors) }

        /// Runs a call; a refusal ends the command: 404/403/400/413 as bad input, the rest
        /// (unreachable, 5xx, 429) as input too but with the server's words.
        func attempt<T>(_ body: () throws -> T) -> T {
            do { return try body() } catch { errors.fail("\(error)", kind: .input) }
        }

        func print(_ o: Any) {
            let data = (try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])) ?? Data()
            Swift.print(String(decoding: data, as: UTF8.self))
        }
    }

    /// A job in one line: id, state, exit, agent, run.
    static func line(_ j: [String: Any]) -> String {
        let exit = (j["exit_code"] as? Int).map { " exit \($0)" } ?? ""
        let reason = (j["reason"] as? String).map { " (\($0))" } ?? ""
        return "\(j["id"] as? String ?? "?")  \(j["state"] as? String ?? "?")\(exit)  agent \(j["agent"] as? String ?? "?")"
            + ((j["run_id"] as? String).map { "  run \($0)" } ?? "") + reason
    }

    /// A followed job's events printed as they come (its output as text), and its exit code.
    static func follow(_ c: JobClient, _ id: String, connection: Connection) -> Int32 {
        let finished = connection.attempt {
            try c.follow(id) { e in
                if connection.json {
                    connection.print(e)
                } else if let text = e["text"] as? String, ["output", "log"].contains(e["event"] as? String ?? "") {
                    FileHandle.standardOutput.write(
                        Data((text.hasSuffix("\n") || e["event"] as? String == "output" ? text : text + "\n").utf8))
                }
            }
        }
        guard let f = finished else { connection.errors.fail("job \(id): the event stream ended before the job did", kind: .input) }
        if !connection.json {
            FileHandle.standardError.write(
                Data("gpuflow: job \(id) \(f["state"] as? String ?? "?")\((f["exit_code"] as? Int).map { ", exit \($0)" } ?? "")\n".utf8))
        }
        return Int32(f["exit_code"] as? Int ?? (f["state"] as? String == "succeeded" ? 0 : 1))
    }

    struct Submit: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "submit", abstract: "Submit a Lua script as a job (then -- and its arguments); --wait follows it to its end.")
        @OptionGroup var connection: Connection
        @Argument(help: "The Lua script, then -- and its arguments.") var script: [String] = []
        @Flag(help: "Follow the job's output until it ends, and exit with its exit code.") var wait = false
        @Option(help: "Submit as this agent (an admin's token only).") var agent: String?

        func run() throws {
            let errors = connection.errors
            let (files, arguments) = splitAtDoubleDash(script).map { ($0.before, $0.after) } ?? (script, [])
            guard files.count == 1, let path = files.first else {
                errors.fail("job submit takes one script (gpuflow job submit SCRIPT [-- ARGS])", kind: .input)
            }
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                errors.fail("cannot open script \(path)", kind: .input)
            }
            let c = connection.client()
            var body: [String: Any] = ["script": text, "arguments": arguments]
            if let agent { body["agent"] = agent }
            let job = connection.attempt { try c.object("POST", "/v1/jobs", json: body) }
            let id = job["id"] as? String ?? "?"
            if connection.json && !wait { connection.print(job) }
            if !connection.json { FileHandle.standardError.write(Data("gpuflow: job \(id) submitted (gpuflow job logs \(id) -f)\n".utf8)) }
            if wait { throw ExitCode(Job.follow(c, id, connection: connection)) }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "status", abstract: "A job's state, exit code, run and progress.")
        @OptionGroup var connection: Connection
        @Argument(help: "The job id.") var id: String
        func run() throws {
            let c = connection.client()
            let j = connection.attempt { try c.object("GET", "/v1/jobs/\(id)") }
            if connection.json { connection.print(j) } else { print(Job.line(j)) }
        }
    }

    struct Logs: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "logs", abstract: "A job's output; -f follows it to its end.")
        @OptionGroup var connection: Connection
        @Argument(help: "The job id.") var id: String
        @Flag(name: [.short, .long], help: "Follow the output until the job ends, and exit with its exit code.") var follow = false
        func run() throws {
            let c = connection.client()
            if follow { throw ExitCode(Job.follow(c, id, connection: connection)) }
            let j = connection.attempt { try c.object("GET", "/v1/jobs/\(id)") }
            if connection.json {
                connection.print(["id": id, "output": j["output"] ?? NSNull()])
            } else {
                print(j["output"] as? String ?? "", terminator: "")
            }
        }
    }

    struct Cancel: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "cancel", abstract: "Cancel a queued or running job.")
        @OptionGroup var connection: Connection
        @Argument(help: "The job id.") var id: String
        func run() throws {
            let c = connection.client()
            let a = connection.attempt { try c.object("DELETE", "/v1/jobs/\(id)") }
            if connection.json {
                connection.print(a)
            } else {
                print(
                    "job \(id): \(a["cancelled"] as? Bool == true ? "cancelled" : "not cancelled, it had ended") (\(a["state"] as? String ?? "?"))"
                )
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "This agent's jobs, newest first.")
        @OptionGroup var connection: Connection
        @Option(help: "Only jobs in this state (queued, running, succeeded, failed, cancelled, ...).") var state: String?
        func run() throws {
            let c = connection.client()
            let query = state.flatMap { $0.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) }.map { "?state=\($0)" } ?? ""
            let o = connection.attempt { try c.object("GET", "/v1/jobs" + query) }
            if connection.json { return connection.print(o) }
            for j in o["jobs"] as? [[String: Any]] ?? [] { print(Job.line(j)) }
        }
    }

    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "report", abstract: "A job's HTML report, to a file or stdout.")
        @OptionGroup var connection: Connection
        @Argument(help: "The job id.") var id: String
        @Option(name: [.short, .customLong("output")], help: "The file to write (default: stdout).") var output: String?
        func run() throws {
            let c = connection.client()
            let j = connection.attempt { try c.object("GET", "/v1/jobs/\(id)") }
            guard let path = j["report"] as? String else {
                connection.errors.fail("job \(id) has no run yet (state \(j["state"] as? String ?? "?"))", kind: .input)
            }
            let html = connection.attempt { try c.call("GET", path) }
            guard let output else { return FileHandle.standardOutput.write(html) }
            do { try html.write(to: URL(fileURLWithPath: output), options: .atomic) } catch {
                connection.errors.fail("-o \(output): \(error.localizedDescription)", kind: .input)
            }
            FileHandle.standardError.write(Data("wrote the report of job \(id) to \(output)\n".utf8))
        }
    }
}
