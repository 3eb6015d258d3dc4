import Foundation
import GPUFlowCore

/// One self-contained HTML file for a run, for a person to read: what happened first (its
/// status, and a failed run's error and line), then what the script logged, then each task
/// by its name (learning curves, the optimizer's trials with their settings, the latency of
/// every request), the timeline and memory, gpuflow's own measurements kept apart from the
/// script's, the script's printed output, and the manifest as a table. SVG charts, no
/// script, no external file: it opens anywhere.
public enum ReportBuilder {
    /// The part of the script's output a report shows (the store keeps up to 1 MiB).
    static let shownOutputBytes = 200_000

    public static func html(store: RunStore, run: String) throws -> String {
        let summary = try store.summary(run)
        let manifest = try store.manifest(run)
        let tasks = try store.tasks(run)
        let metrics = try store.metrics(run)
        let samples = try store.samples(run)
        let tracked = try store.trackedRuns(run: run).first
        let events = try store.events(run)
        let names = Dictionary(tasks.map { ($0.taskID, $0.name) }, uniquingKeysWith: { a, _ in a })
        func title(_ task: Int) -> String { "\(esc(names[task] ?? "task \(task)")) <span class=\"id\">(task \(task))</span>" }

        var body = "<h1>\(esc(tracked?.name ?? "gpuflow run")) <span class=\"id\">\(esc(run))</span></h1>\n"
        let seconds = manifest.endedAt.map { String(format: "%.2f s", $0 - manifest.startedAt) } ?? "not ended"
        body += "<p class=\"meta\"><b class=\"status \(esc(summary.status))\">\(esc(summary.status))</b>"
        body += summary.exitCode.map { " · exit \($0)" } ?? ""
        body += tracked?.experiment.map { " · experiment \(esc($0))" } ?? ""
        body +=
            " · \(date(manifest.startedAt)) · \(seconds) · \(esc(manifest.backend)) on \(esc(manifest.device)) · seed \(manifest.seed)</p>\n"
        if let f = summary.failure {
            body += "<div class=\"error\" id=\"error\"><b>Error</b>: \(esc(f.message))"
            if let at = f.location { body += "<br>at <code>\(esc(at))</code>" }
            if let tb = f.traceback { body += "<pre>\(esc(tb))</pre>" }
            body += "<p>Resume it from its last good stage: <code>gpuflow run --resume \(esc(run))</code></p></div>\n"
        }

        body += logged(store: store, run: run, tracked: tracked)

        // Each task by its name: learning curves, trials, latency.
        let byTask = Dictionary(grouping: metrics.filter { $0.step != nil }, by: \.taskID)
        let trialEvents = events.filter { $0.kind == "trials" }.compactMap { e -> (Int, [String: Any])? in
            guard let o = try? JSONSerialization.jsonObject(with: Data(e.body.utf8)) as? [String: Any], let t = o["task"] as? Int else {
                return nil
            }
            return (t, o)
        }
        let trialsByTask = Dictionary(trialEvents, uniquingKeysWith: { _, b in b })
        for (task, ms) in byTask.sorted(by: { $0.key < $1.key }) {
            var series: [ReportCharts.Series] = []
            for (key, color) in [
                ("epoch.loss", "#d62728"), ("epoch.accuracy", "#1f77b4"), ("epoch.validation_loss", "#ff7f0e"),
                ("epoch.validation_accuracy", "#2ca02c"),
            ] {
                let pts = ms.filter { $0.key == key }.compactMap { m in m.step.map { (Double($0), m.value) } }.sorted { $0.0 < $1.0 }
                if !pts.isEmpty { series.append((key.replacingOccurrences(of: "epoch.", with: ""), pts, color)) }
            }
            if !series.isEmpty {
                body += "<h2>\(title(task)): learning curves</h2>\n"
                body += ReportCharts.lineChart(series, xLabel: "epoch", integerX: true, id: "curves-\(task)")
            }
            let scores = ms.filter { $0.key == "trial.accuracy" || $0.key == "trial.score" }
            if !scores.isEmpty {
                body += trials(task: task, title: title(task), metrics: ms, event: trialsByTask[task])
            }
            let uppers = ms.filter { $0.key == "latency.bucket_upper_ms" }.sorted { ($0.step ?? 0) < ($1.step ?? 0) }
            let counts = ms.filter { $0.key == "latency.bucket_count" }.sorted { ($0.step ?? 0) < ($1.step ?? 0) }
            if !counts.isEmpty, uppers.count == counts.count {
                let sum = counts.reduce(0) { $0 + $1.value }, total = sum.isFinite && abs(sum) < 1e15 ? Int(sum) : 0
                body += "<h2>\(title(task)): latency of its \(total) requests</h2>\n"
                body +=
                    "<p class=\"note\">Each request (row) counted at the latency of the batch that answered it; buckets are logarithmic, labelled by their upper bound.</p>\n"
                body += ReportCharts.barChart(
                    zip(uppers, counts).map { (String(format: "≤%.3g ms", $0.value), $1.value) }, color: "#17becf", yLabel: "requests",
                    id: "latency-\(task)")
            }
        }

        let timed = tasks.filter { $0.startedAt != nil && $0.finishedAt != nil }
        if !timed.isEmpty {
            body += "<h2>Timeline of tasks per agent and backend</h2>\n" + ReportCharts.gantt(timed)
        }
        if samples.count > 1 {
            var series: [ReportCharts.Series] = []
            let t0 = samples.first?.t ?? 0
            let rss = samples.compactMap { s in s.resident.map { (s.t - t0, $0 / 1_048_576) } }
            let pool = samples.compactMap { s in s.pool.map { (s.t - t0, $0 / 1_048_576) } }
            if !rss.isEmpty { series.append(("process resident MiB", rss, "#8c564b")) }
            if !pool.isEmpty { series.append(("device pool MiB", pool, "#e377c2")) }
            if !series.isEmpty {
                body +=
                    "<h2>Memory over time</h2>\n"
                    + ReportCharts.lineChart(series, xLabel: "seconds since the first sample", yLabel: "MiB", id: "memory")
            }
        }

        if !tasks.isEmpty {
            body +=
                "<h2>Tasks</h2>\n<table id=\"tasks\"><tr><th>#</th><th>name</th><th>type</th><th>agent</th><th>backend</th><th>state</th><th>run s</th><th>error</th></tr>\n"
            for t in tasks {
                let run =
                    (t.startedAt != nil && t.finishedAt != nil) ? String(format: "%.3f", (t.finishedAt ?? 0) - (t.startedAt ?? 0)) : "—"
                body +=
                    "<tr><td>\(t.taskID)</td><td>\(esc(t.name))</td><td>\(esc(t.type))</td><td>\(esc(t.agent ?? "—"))</td><td>\(esc(t.backend ?? "—"))</td><td>\(esc(t.state))</td><td>\(run)</td><td>\(esc(t.error ?? ""))</td></tr>\n"
            }
            body += "</table>\n"
        }
        body += recorded(metrics.filter { $0.step == nil }, names: names)
        body += confusionTables(metrics.filter { $0.step == nil }, names: names)
        body += output(store: store, run: run)
        body += manifestTable(manifest)
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(esc(tracked?.name ?? "gpuflow run")) \(esc(run))</title>
            <style>
            body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
            h1{font-size:22px}h2{font-size:16px;margin-top:28px}h3{font-size:14px}.meta{color:#555}.id{color:#888;font-weight:normal}
            .note{color:#666;font-size:12px}.status.succeeded{color:#2a7d2a}.status.failed,.status.exited{color:#b00}.status.interrupted{color:#b60}
            .error{border:2px solid #c33;background:#fff3f3;padding:8px 12px;margin:12px 0}
            table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
            tr.best td{background:#fff1dc}
            pre{background:#f6f6f6;padding:8px;overflow:auto;max-height:400px;white-space:pre-wrap}svg{background:#fff;border:1px solid #ddd}
            .axis{stroke:#888;stroke-width:1}.grid{stroke:#eee;stroke-width:1}.label{font-size:11px;fill:#444}
            </style></head><body>
            \(body)</body></html>
            """
    }

    /// What the script logged itself (gpu.log, gpu.tag), first, apart from gpuflow's figures.
    static func logged(store: RunStore, run: String, tracked: RunStore.TrackedRun?) -> String {
        guard let t = tracked else { return "" }
        let params = t.params.filter { !RunStore.systemParams.contains($0.key) }.sorted { $0.key < $1.key }
        guard !params.isEmpty || !t.metrics.isEmpty || !t.tags.isEmpty else { return "" }
        var s = "<h2 id=\"logged\">Logged by the script</h2>\n"
        if !params.isEmpty || !t.tags.isEmpty {
            s += "<table><tr><th></th><th>key</th><th>value</th></tr>\n"
            for (k, v) in params { s += "<tr><td>param</td><td>\(esc(k))</td><td>\(esc(v))</td></tr>\n" }
            for (k, v) in t.tags.sorted(by: { $0.key < $1.key }) { s += "<tr><td>tag</td><td>\(esc(k))</td><td>\(esc(v))</td></tr>\n" }
            s += "</table>\n"
        }
        if !t.metrics.isEmpty {
            s += "<table><tr><th>metric</th><th>last</th><th>at step</th><th>min</th><th>max</th><th>values</th></tr>\n"
            for (k, m) in t.metrics.sorted(by: { $0.key < $1.key }) {
                s +=
                    "<tr><td>\(esc(k))</td><td>\(fmt(m.last))</td><td>\(m.step)</td><td>\(fmt(m.min))</td><td>\(fmt(m.max))</td><td>\(m.count)</td></tr>\n"
            }
            s += "</table>\n"
            let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
            for (i, (k, m)) in t.metrics.sorted(by: { $0.key < $1.key }).enumerated() where m.count > 1 {
                let points = ((try? store.metricHistory(run, key: k)) ?? []).map { (Double($0.step), $0.value) }
                s += "<h3>\(esc(k)) by step</h3>\n"
                s += ReportCharts.lineChart([(k, points, colors[i % colors.count])], xLabel: "step", integerX: true, id: "logged-\(i)")
            }
        }
        return s
    }

    /// An optimizer's trials: a bar per trial labelled with its settings, the best marked, and
    /// the settings in a table under it.
    static func trials(task: Int, title: String, metrics ms: [RunStore.Metric], event: [String: Any]?) -> String {
        // The searched objective itself where the trials measured it (a throughput search's
        // score is the negated throughput: shown as the throughput).
        let objective: [String: (key: String, label: String, lower: Bool)] = [
            "throughput": ("trial.throughput_per_sec", "throughput (per second, higher is better)", false),
            "latency": ("trial.p99_latency_ms", "p99 latency (ms, lower is better)", true),
            "memory": ("trial.memory_mb", "memory (MB, lower is better)", true),
            "accuracy": ("trial.accuracy", "validation accuracy (higher is better)", false),
        ]
        let fallback: (key: String, label: String, lower: Bool) =
            ms.contains { $0.key == "trial.accuracy" }
            ? ("trial.accuracy", "validation accuracy (higher is better)", false) : ("trial.score", "score (lower is better)", true)
        let chosen =
            (event?["target"] as? String).flatMap { objective[$0] }.flatMap { o in ms.contains { $0.key == o.key } ? o : nil } ?? fallback
        let key = chosen.key
        let pts = ms.filter { $0.key == key }.compactMap { m in m.step.map { ($0, m.value) } }.sorted { $0.0 < $1.0 }
        let trials = event?["trials"] as? [[String: Any]] ?? []
        let best = (event?["best_trial"] as? Int).map { $0 - 1 }
        func settings(_ i: Int) -> [(String, String)] {
            guard i < trials.count, let s = trials[i]["settings"] as? [String: Any] else { return [] }
            return s.keys.sorted().map { ($0, text(s[$0])) }
        }
        let keys = Array(Set(trials.indices.flatMap { settings($0).map(\.0) })).sorted()
        let unit = chosen.label.components(separatedBy: " (").first ?? "value"
        var s = "<h2>\(title): optimizer trials</h2>\n"
        s += "<p class=\"note\">Each trial's \(esc(chosen.label))\(best != nil ? "; the chosen trial in orange" : "").</p>\n"
        s += ReportCharts.barChart(
            pts.map { p in
                let set = settings(p.0 - 1).map { "\($0.0)=\($0.1)" }.joined(separator: " ")
                return (set.isEmpty ? "#\(p.0)" : "#\(p.0) \(set)", p.1)
            }, color: "#9467bd", yLabel: unit, highlight: best, id: "trials-\(task)")
        if !trials.isEmpty {
            s += "<table class=\"trials\"><tr><th>trial</th>" + keys.map { "<th>\(esc($0))</th>" }.joined()
            s += "<th>\(esc(unit))</th><th>feasible</th></tr>\n"
            for (i, p) in pts.enumerated() {
                let set = Dictionary(settings(p.0 - 1), uniquingKeysWith: { a, _ in a })
                let feasible = p.0 - 1 < trials.count ? text(trials[p.0 - 1]["feasible"]) : ""
                s +=
                    "<tr\(best == p.0 - 1 ? " class=\"best\"" : "")><td>#\(p.0)</td>"
                    + keys.map { "<td>\(esc(set[$0] ?? ""))</td>" }.joined()
                s += "<td>\(fmt(p.1))</td><td>\(esc(feasible))</td></tr>\n"
                _ = i
            }
            s += "</table>\n"
        }
        return s
    }

    /// gpuflow's own figures per task, apart from the script's: results first, then the
    /// measurements of time, speed and memory that differ run to run.
    static func recorded(_ finals: [RunStore.Metric], names: [Int: String]) -> String {
        guard !finals.isEmpty else { return "" }
        var s = "<h2 id=\"recorded\">Recorded by gpuflow</h2>\n"
        s += "<p class=\"note\">What gpuflow measured of each task; the script's own values are under “Logged by the script”.</p>\n"
        for (title, rows) in [
            ("Results", finals.filter { !RunComparison.isTiming($0.key) && !$0.key.contains("confusion.") }),
            ("Measurements (time, speed, memory: they vary run to run)", finals.filter { RunComparison.isTiming($0.key) }),
        ] where !rows.isEmpty {
            s += "<h3>\(title)</h3>\n<table><tr><th>task</th><th>metric</th><th>value</th></tr>\n"
            for m in rows {
                s += "<tr><td>\(esc(names[m.taskID] ?? "task \(m.taskID)"))</td><td>\(esc(m.key))</td><td>\(fmt(m.value))</td></tr>\n"
            }
            s += "</table>\n"
        }
        return s
    }

    static func output(store: RunStore, run: String) -> String {
        guard let a = (try? store.artifactEntries(run))?.first(where: { $0.kind == "output" }), let data = try? store.artifact(a.hash)
        else { return "" }
        var text = String(decoding: data.prefix(shownOutputBytes), as: UTF8.self)
        if data.count > shownOutputBytes {
            text += "\n[… \(data.count - shownOutputBytes) more bytes: gpuflow artifacts get \(run) \(a.name)]"
        }
        return "<h2 id=\"output\">Output of the script</h2>\n<pre>\(esc(text))</pre>\n"
    }

    /// The manifest for a reader: dates as dates, paths as paths, the profile as its YAML; the
    /// JSON whole under it, folded.
    static func manifestTable(_ m: Manifest) -> String {
        var rows: [(String, String)] = [
            ("started", date(m.startedAt)), ("ended", m.endedAt.map(date) ?? "—"),
            ("duration", m.endedAt.map { String(format: "%.3f s", $0 - m.startedAt) } ?? "—"),
        ]
        for sc in m.scripts {
            rows.append(
                ("script", "<code>\(esc(sc.path))</code>\(sc.agent.map { " (agent \(esc($0)))" } ?? "") · sha256 \(sc.hash.prefix(16))…"))
        }
        rows.append(("arguments", m.arguments.isEmpty ? "none" : m.arguments.map { "<code>\(esc($0))</code>" }.joined(separator: " ")))
        rows.append(("seed", String(m.seed)))
        rows.append(("backend", "\(esc(m.backend)) — \(esc(m.backendReason))"))
        rows.append(("device", esc(m.device)))
        rows.append(("driver", esc(m.driver)))
        rows.append(("profile", m.profilePath.map { "<code>\(esc($0))</code>" } ?? "built-in defaults"))
        for mod in m.modules { rows.append(("module", "\(esc(mod.name)) <code>\(esc(mod.path))</code> · sha256 \(mod.hash.prefix(16))…")) }
        if let h = m.history { rows.append(("learning history", "\(h.entries) entries read, sha256 \(h.hash.prefix(16))…")) }
        rows.append(("gpuflow", "\(esc(m.gpuflowVersion)) (\(esc(m.build))) on \(esc(m.host)), pid \(m.pid)"))
        var s = "<h2 id=\"manifest\">Manifest</h2>\n<table class=\"manifest\">\n"
        for (k, v) in rows { s += "<tr><th>\(k)</th><td>\(v)</td></tr>\n" }
        s += "</table>\n<h3>Resolved profile</h3>\n<pre>\(esc(m.profile))</pre>\n"
        s += "<details><summary>The manifest as JSON</summary><pre>\(esc((try? m.json()) ?? ""))</pre></details>\n"
        return s
    }

    static func date(_ t: Double) -> String { UTCStamp.string(t, format: "%Y-%m-%d %H:%M:%S UTC") }

    /// A trial's setting as the recorder wrote it (text), or a number.
    static func text(_ v: Any?) -> String {
        if let s = v as? String { return s }
        if let d = v as? Double { return fmt(d) }
        return ""
    }

    /// Each task's confusion matrix (recorded as `…confusion.<true>.<predicted>`), rows the
    /// true class, columns the predicted, classes in the store's key order (by name).
    static func confusionTables(_ metrics: [RunStore.Metric], names: [Int: String] = [:]) -> String {
        var out = ""
        for (task, rows) in Dictionary(grouping: metrics.filter { $0.key.contains("confusion.") }, by: \.taskID).sorted(by: {
            $0.key < $1.key
        }) {
            var classes: [String] = []
            var cells: [String: Double] = [:]
            for m in rows {
                guard let r = m.key.range(of: "confusion.") else { continue }
                let pair = m.key[r.upperBound...].split(separator: ".", maxSplits: 1).map(String.init)
                guard pair.count == 2 else { continue }
                for c in pair where !classes.contains(c) { classes.append(c) }
                cells[pair[0] + "\u{0}" + pair[1]] = m.value
            }
            guard !classes.isEmpty else { continue }
            out +=
                "<h2>\(esc(names[task] ?? "task \(task)")): confusion matrix (rows: true class, columns: predicted)</h2>\n<table><tr><th></th>"
            out += classes.map { "<th>\(esc($0))</th>" }.joined() + "</tr>\n"
            for a in classes {
                out += "<tr><th>\(esc(a))</th>" + classes.map { b in "<td>\(fmt(cells[a + "\u{0}" + b] ?? 0))</td>" }.joined() + "</tr>\n"
            }
            out += "</table>\n"
        }
        return out
    }

    static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(
            of: ">", with: "&gt;"
        )
        .replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func fmt(_ v: Double) -> String { v == v.rounded() && abs(v) < 1e12 ? String(Int(v)) : String(format: "%.6g", v) }
}
