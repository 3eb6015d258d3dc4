import Foundation
import GPUFlowTesting
import Testing

/// A run's life from the user's side after it ends: how a failure is kept (message, line,
/// traceback, os.exit's status, Ctrl-C), how runs are compared by task name, deleted and
/// collected with the space they free, and how their artifacts are read back.
@Suite struct RunLifecycleCLITests {
    private func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not a JSON object: \(text)")
    }

    private func show(_ box: CLISandbox, _ run: String = "last") throws -> [String: Any] {
        let out = try box.run(["runs", "show", run, "--json"])
        #expect(out.status == 0, "\(out.stderr)")
        return try json(out.stdout)
    }

    @Test func aFailedRunKeepsItsErrorLineAndTraceback() throws {
        let box = try CLISandbox()
        let lib = try box.write(
            "helpers.lua", "local M = {}\nfunction M.check(x)\n  if x > 2 then error('x too large: ' .. x) end\nend\nreturn M\n")
        _ = lib
        let path = try box.write("job.lua", "local h = require 'helpers'\nprint('starting')\n\nh.check(1)\nh.check(5)\n")
        let out = try box.run(["run", path])
        #expect(out.status == 1, "\(out.stderr)")
        // The run id is on stderr with the resume command, after the error.
        #expect(out.stderr.contains("gpuflow run --resume r"), "\(out.stderr)")
        let r = try show(box)
        #expect(r["status"] as? String == "failed" && r["exit_code"] as? Int == 1)
        let error = try #require(r["error"] as? [String: Any])
        #expect((error["message"] as? String ?? "").contains("x too large: 5"))
        // The line of the script, not of the module the error was raised in.
        #expect((error["at"] as? String ?? "").hasSuffix("job.lua:5"), "\(error)")
        #expect((error["traceback"] as? String ?? "").contains("helpers.lua:3"))
        let text = try box.run(["runs", "show", "last"])
        #expect(text.stdout.contains("error: ") && text.stdout.contains("job.lua:5"), "\(text.stdout)")
        // The report leads with it.
        let html = box.dir.appendingPathComponent("r.html").path
        #expect(try box.run(["report", "last", "--out", html]).status == 0)
        let page = try String(contentsOfFile: html, encoding: .utf8)
        let errorAt = try #require(page.range(of: "class=\"error\""))
        #expect(page.range(of: "<h2")?.lowerBound ?? page.endIndex > errorAt.lowerBound, "the error comes before every section")
        #expect(page.contains("x too large: 5") && page.contains("gpuflow run --resume"))
        // What it printed before failing is kept too.
        #expect(page.contains("starting"))
    }

    @Test func osExitIsRecordedAsExitedWithItsStatusEvenUnderPcall() throws {
        let box = try CLISandbox()
        for (code, lua) in [
            (4, "print('a')\nos.exit(4)\nprint('never')\n"),
            (7, "print(pcall(os.exit, 7))\nprint('never')\n"),
            (1, "os.exit(false)\n"),
            (8, "local f = coroutine.wrap(function() os.exit(8) end)\nprint(pcall(f))\nprint('never')\n"),
            (9, "local co = coroutine.create(function() os.exit(9) end)\nprint(coroutine.resume(co))\nprint('never')\n"),
        ] {
            let out = try box.run(["run", try box.write("exit\(code).lua", lua)])
            #expect(out.status == Int32(code), "\(lua): \(out.stderr)")
            #expect(!out.stdout.contains("never"), "\(out.stdout)")
            #expect(!out.signalled)
            let r = try show(box)
            #expect(r["status"] as? String == "exited" && r["exit_code"] as? Int == code, "\(r["status"] ?? "")")
            #expect(((r["error"] as? [String: Any])?["message"] as? String ?? "").contains("os.exit(\(code))"))
        }
        let zero = try box.run(["run", try box.write("zero.lua", "os.exit(0)\nprint('never')\n")])
        #expect(zero.status == 0 && !zero.stdout.contains("never"))
        #expect(try show(box)["status"] as? String == "succeeded")
        // A sandboxed script has no os.exit at all.
        let sandboxed = try box.run(["run", "--sandbox", try box.write("sb.lua", "os.exit(3)\n")])
        #expect(sandboxed.status == 1 && sandboxed.stderr.contains("exit"), "\(sandboxed.stderr)")
    }

    @Test func ctrlCRecordsTheRunAsInterruptedAndPrintsHowToResume() throws {
        let box = try CLISandbox()
        let path = try box.write("loop.lua", "print('ready')\nio.stdout:flush()\nwhile true do end\n")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLIRunner.binary)
        p.arguments = ["run", path]
        p.environment = ProcessInfo.processInfo.environment.merging(box.env) { _, b in b }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // Wait for the script to be running (its first line), then interrupt it.
        var seen = Data()
        while !String(decoding: seen, as: UTF8.self).contains("ready") {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen.append(chunk)
        }
        kill(p.processIdentifier, SIGINT)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationReason == .exit && p.terminationStatus == 130, "\(p.terminationReason) \(p.terminationStatus)")
        #expect(stderr.contains("interrupted by Ctrl-C") && stderr.contains("gpuflow run --resume r"), "\(stderr)")
        let r = try show(box)
        #expect(r["status"] as? String == "interrupted" && r["exit_code"] as? Int == 130)
        // Printed output up to the interrupt is kept.
        let arts = try box.run(["artifacts", "get", "last", "output.txt"])
        #expect(arts.stdout == "ready\n", "\(arts.stdout) \(arts.stderr)")
    }

    private let training = """
        local gpu = require "gpu"
        local nn = require "gpu.nn"
        local data = require "gpu.data"
        local ds = data.blobs{samples = 120, features = 4, centers = 3, seed = 1}
        local model = nn.mlp{inputs = 4, hidden = {8}, outputs = 3, seed = 1}
        local epochs = tonumber(arg[1])
        local r = gpu.submit(gpu.training{name = "fit", model = model, data = ds, epochs = epochs, batch_size = 16}):await()
        for step = 1, 4 do gpu.log{metrics = {score = 10 - step * epochs}, step = step} end
        print("accuracy", r.metrics.accuracy)
        """

    @Test func compareMatchesTasksByNameWithFinalAndBestDeleteAndGCFreeSpace() throws {
        let box = try CLISandbox()
        let path = try box.write("fit.lua", training)
        for epochs in ["3", "5"] {
            let r = try box.run(["run", path, "--quiet", "--", epochs])
            #expect(r.status == 0, "\(r.stderr)")
        }
        let list = try #require(
            try JSONSerialization.jsonObject(with: Data(try box.run(["runs", "list", "--json"]).stdout.utf8)) as? [[String: Any]])
        let ids = list.compactMap { $0["id"] as? String }
        #expect(ids.count == 2)
        let (b, a) = (ids[0], ids[1])
        let c = try json(try box.run(["runs", "compare", a, b, "--json"]).stdout)
        let rows = try #require(c["metrics"] as? [[String: Any]])
        func row(_ key: String) -> [String: Any]? { rows.first { $0["key"] as? String == key } }
        // Matched by the task's name; the epoch series as its final and its best.
        let finalLoss = try #require(row("fit epoch.loss final"), "\(rows.map { $0["key"] ?? "" })")
        #expect(finalLoss["differs"] as? Bool == true)
        #expect((row("fit epoch.loss best")?["a"] as? String ?? "").contains("@"))
        #expect(!rows.contains { ($0["key"] as? String ?? "").hasSuffix("[2]") }, "no per-epoch rows without --epochs")
        // A logged series: final at the last step, best is the lowest score (at step 4).
        #expect(row("logged score final")?["a"] as? String == "-2.0" && row("logged score best")?["b"] as? String == "-10.0 @4")
        let all = try json(try box.run(["runs", "compare", a, b, "--json", "--epochs"]).stdout)
        #expect((all["metrics"] as? [[String: Any]] ?? []).contains { $0["key"] as? String == "fit epoch.loss[2]" })

        // Sizes, artifacts, deletion and collection, with the bytes the files took.
        let shown = try show(box, a)
        let size = try #require(shown["size"] as? [String: Any])
        #expect((size["own_bytes"] as? Int ?? 0) > 0 && (size["bytes"] as? Int ?? 0) >= (size["own_bytes"] as? Int ?? 0))
        let arts = try #require(
            try JSONSerialization.jsonObject(with: Data(try box.run(["artifacts", "list", a, "--json"]).stdout.utf8)) as? [[String: Any]])
        let model = try #require(arts.first { $0["kind"] as? String == "model" })
        let file = box.dir.appendingPathComponent("model.bin").path
        let got = try box.run(["artifacts", "get", a, model["name"] as? String ?? "", "-o", file])
        #expect(got.status == 0, "\(got.stderr)")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        #expect(bytes.count == model["bytes"] as? Int)
        let missing = try box.run(["artifacts", "get", a, "nope"])
        #expect(
            missing.status == 2 && missing.firstErrorLine.contains("no artifact 'nope'") && missing.firstErrorLine.contains("output.txt"))

        let artifactDir = box.dir.appendingPathComponent("data/artifacts").path
        func diskBytes() -> Int {
            let e = FileManager.default.enumerator(atPath: artifactDir)
            var n = 0
            while let f = e?.nextObject() as? String {
                let a = try? FileManager.default.attributesOfItem(atPath: artifactDir + "/" + f)
                guard a?[.type] as? FileAttributeType == .typeRegular else { continue }  // files, not folders
                n += (a?[.size] as? NSNumber)?.intValue ?? 0
            }
            return n
        }
        let before = diskBytes()
        let dry = try json(try box.run(["runs", "delete", a, "--dry-run", "--json"]).stdout)
        #expect(diskBytes() == before && (dry["bytes_freed"] as? Int ?? 0) > 0)
        let deleted = try json(try box.run(["runs", "delete", a, "--json"]).stdout)
        #expect(deleted["bytes_freed"] as? Int == dry["bytes_freed"] as? Int)
        #expect(before - diskBytes() == deleted["bytes_freed"] as? Int, "the figure is what left the disk")
        #expect(try box.run(["runs", "show", a]).status == 2)
        #expect(try box.run(["runs", "show", b]).status == 0)
        // The other run's artifacts are intact and read back.
        for entry in try #require(
            try JSONSerialization.jsonObject(with: Data(try box.run(["artifacts", "list", b, "--json"]).stdout.utf8)) as? [[String: Any]])
        {
            #expect(try box.run(["artifacts", "get", b, entry["sha256"] as? String ?? "", "-o", file]).status == 0)
        }

        // A stray file and an unnamed artifact row go at gc; a fresh checkpoint stays.
        let stray = artifactDir + "/ab/" + String(repeating: "ab", count: 32)
        try FileManager.default.createDirectory(atPath: artifactDir + "/ab", withIntermediateDirectories: true)
        try Data(count: 4096).write(to: URL(fileURLWithPath: stray))
        let gc = try json(try box.run(["runs", "gc", "--json"]).stdout)
        #expect(gc["stray_files"] as? Int == 1 && (gc["bytes_freed"] as? Int ?? 0) >= 4096, "\(gc)")
        #expect(!FileManager.default.fileExists(atPath: stray))
        #expect(try box.run(["runs", "gc", "--checkpoints", "soon"]).status == 2)
        let text = try box.run(["runs", "gc"])
        #expect(
            text.status == 0 && text.stdout.hasPrefix("collected: 0 checkpoints, 0 artifacts, 0 stray files; freed 0 B"), "\(text.stdout)")
        // Deleting what is not there is an error naming it, as JSON under --json.
        let unknown = try box.run(["runs", "delete", "r0000", "--json"])
        let refusal = try json(unknown.stdout)["error"] as? [String: Any]
        #expect(unknown.status == 2 && refusal?["code"] as? String == "input")
    }
}
