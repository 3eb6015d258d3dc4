import Foundation
import GPUFlowTesting
import Testing

/// Experiment tracking from a user's side: a script logs params, metrics and tags; runs are
/// named and grouped; `runs list` finds them by experiment, filter and sort, as a table and as
/// JSON; bad queries and bad logging fail with their exit codes.
@Suite struct TrackingCLITests {
    private let script = """
        local gpu = require "gpu"
        local lr = tonumber(arg[1])
        gpu.log{params = {lr = lr, optimizer = "adam"}}
        gpu.tag{dataset = "iris", stage = "draft"}
        for epoch = 1, 3 do gpu.log{metrics = {loss = 1 / (epoch * lr * 100), accuracy = 0.5 + epoch * lr * 4}} end
        gpu.log{metrics = {final = lr * 10}, step = 7}
        gpu.tag{stage = "done"}
        """

    private func json(_ text: String) throws -> Any { try JSONSerialization.jsonObject(with: Data(text.utf8)) }

    @Test func runsAreLoggedNamedFilteredAndSorted() throws {
        let box = try CLISandbox()
        let path = try box.write("train.lua", script)
        for (lr, name, experiment) in [("0.01", "small", "iris"), ("0.05", "large", "iris"), ("0.03", "other", "wine")] {
            let out = try box.run(["run", path, "--quiet", "--name", name, "--experiment", experiment, "--", lr])
            #expect(out.status == 0, "\(out.stderr)")
        }
        let list = try box.run(["runs", "list", "--experiment", "iris", "--json"])
        #expect(list.status == 0, "\(list.stderr)")
        let runs = try #require(try json(list.stdout) as? [[String: Any]])
        #expect(runs.count == 2)
        #expect(Set(runs.compactMap { $0["name"] as? String }) == ["small", "large"])
        for r in runs {
            let params = r["params"] as? [String: String]
            let metrics = r["metrics"] as? [String: [String: Any]]
            let lr = Double(params?["lr"] ?? "") ?? .nan
            #expect(params?["optimizer"] == "adam" && params?["seed"] != nil)
            #expect((r["tags"] as? [String: String]) == ["dataset": "iris", "stage": "done"])
            // Three values at steps 0, 1, 2; the last is the third epoch's.
            #expect(metrics?["accuracy"]?["count"] as? Int == 3 && metrics?["accuracy"]?["step"] as? Int == 2)
            #expect(abs((metrics?["accuracy"]?["last"] as? Double ?? 0) - (0.5 + 3 * lr * 4)) < 1e-9)
            #expect(abs((metrics?["loss"]?["min"] as? Double ?? 0) - 1 / (3 * lr * 100)) < 1e-9)
            #expect(metrics?["final"]?["step"] as? Int == 7)
        }
        // Filter and sort by what was logged.
        let filtered = try box.run(["runs", "list", "--filter", "metrics.accuracy > 0.9 and params.optimizer = 'adam'", "--json"])
        let hits = try #require(try json(filtered.stdout) as? [[String: Any]])
        #expect(Set(hits.compactMap { $0["name"] as? String }) == ["large"], "\(filtered.stdout)")
        let sorted = try box.run(["runs", "list", "--sort=-params.lr", "--json"])
        let order = try #require(try json(sorted.stdout) as? [[String: Any]]).compactMap { $0["name"] as? String }
        #expect(order == ["large", "other", "small"])
        let ascending = try box.run(["runs", "list", "--sort", "metrics.final", "--limit", "2", "--json"])
        #expect(try #require(try json(ascending.stdout) as? [[String: Any]]).compactMap { $0["name"] as? String } == ["small", "other"])
        // The table shows the chosen columns.
        let table = try box.run(["runs", "list", "--experiment", "wine", "--columns", "params.lr,metrics.accuracy,tags.stage"])
        let lines = table.stdout.split(separator: "\n")
        #expect(lines.count == 2 && lines[0].contains("params.lr") && lines[0].contains("metrics.accuracy"))
        #expect(lines[1].contains("other") && lines[1].contains("0.03") && lines[1].contains("0.86") && lines[1].contains("done"))
        // runs show names the run and lists what the script logged.
        let show = try box.run(["runs", "show", "last"])
        #expect(show.status == 0 && show.stdout.contains("name other, experiment wine"), "\(show.stdout)")
        #expect(show.stdout.contains("param  lr = 0.03") && show.stdout.contains("param  optimizer = adam"))
        #expect(show.stdout.contains("metric final = 0.3 at step 7 (1 values") && show.stdout.contains("tag    stage = done"))
    }

    @Test func badQueriesExitTwoAndSayWhere() throws {
        let box = try CLISandbox()
        let path = try box.write("train.lua", script)
        #expect(try box.run(["run", path, "--quiet", "--", "0.01"]).status == 0)
        for (args, fragment) in [
            (["--filter", "metrics.accuracy >"], "at character 19: expected a value"),
            (["--filter", "weight > 3"], "'weight' is not metrics.KEY"),
            (["--filter", "metrics.a > 1 or params.b = 2"], "expected 'and'"),
            (["--filter", "params.x = 'open"], "a quoted value is not closed"),
            (["--sort", "banana"], "--sort 'banana'"),
            (["--columns", "params.lr,weight"], "--columns: 'weight' is not metrics.KEY"),
        ] {
            let out = try box.run(["runs", "list"] + args)
            #expect(out.status == 2 && out.stderr.contains(fragment), "\(args): \(out.stderr)")
            // With --json, the error is JSON on stdout, with the same exit code.
            let j = try box.run(["runs", "list", "--json"] + args)
            let e = (try? json(j.stdout) as? [String: Any])?["error"] as? [String: Any]
            #expect(
                j.status == 2 && e?["code"] as? String == "input" && (e?["message"] as? String)?.contains(fragment) == true, "\(j.stdout)")
        }
    }

    @Test func badLoggingIsAScriptErrorNamingTheLine() throws {
        let box = try CLISandbox()
        for (body, fragment) in [
            ("gpu.log{params = {lr = 0.1}}\ngpu.log{params = {lr = 0.2}}", "param 'lr' was already logged as '0.1'"),
            ("gpu.log{metrics = {loss = 0/0}}", "metrics.loss must be a finite number"),
            ("gpu.log{metrics = {loss = 'low'}}", "metrics.loss must be a finite number"),
            ("gpu.log{params = {seed = 3}}", "params.seed is recorded by gpuflow itself"),
            ("gpu.log{metrics = {['bad\\nname'] = 1}}", "is not a usable name"),
            ("gpu.log{metric = {loss = 1}}", "unknown argument 'metric'"),
            ("gpu.log{metrics = {loss = 1}, step = -1}", "step"),
            ("gpu.tag{}", "expected a table of name = value"),
        ] {
            let path = try box.write("bad.lua", "local gpu = require 'gpu'\n" + body + "\n")
            let out = try box.run(["run", path, "--quiet"])
            #expect(out.status == 1 && out.stderr.contains(fragment), "\(body): \(out.stderr)")
            #expect(out.stderr.contains("bad.lua:"), "\(body): \(out.stderr)")
        }
    }

    @Test func aMissingScriptIsRefusedBeforeAnyRunIsRecorded() throws {
        let box = try CLISandbox()
        let good = try box.write("ok.lua", "print('ok')")
        #expect(try box.run(["run", good, "--quiet"]).status == 0)
        for args in [["run", box.dir.appendingPathComponent("nope.lua").path], ["run", box.dir.path], ["run", good, "missing.lua"]] {
            let out = try box.run(args + ["--quiet"])
            #expect(out.status == 2 && out.stderr.contains("cannot open script"), "\(args): \(out.stderr)")
        }
        let runs = try JSONSerialization.jsonObject(with: Data(try box.run(["runs", "list", "--json"]).stdout.utf8)) as? [Any]
        #expect(runs?.count == 1, "only the good run is recorded")
    }
}
