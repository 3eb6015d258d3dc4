import Foundation

/// One self-contained HTML file for a run: SVG charts (loss and accuracy per epoch, a Gantt
/// of tasks per agent and backend, memory over time, the inference latency histogram, the
/// optimizer's trials) and the manifest. No script, no external file: it opens anywhere.
public enum ReportBuilder {
    public static func html(store: RunStore, run: String) throws -> String {
        let summary = try store.summary(run)
        let manifest = try store.manifest(run)
        let tasks = try store.tasks(run)
        let metrics = try store.metrics(run)
        let samples = try store.samples(run)
        var body = ""
        body += "<h1>gpuflow run \(esc(run))</h1>\n"
        body +=
            "<p class=\"meta\">\(esc(summary.status)) · exit \(summary.exitCode.map(String.init) ?? "—") · \(esc(manifest.backend)) on \(esc(manifest.device)) · seed \(manifest.seed) · gpuflow \(esc(manifest.gpuflowVersion)) (\(esc(manifest.build)))</p>\n"

        // Learning curves: one chart per training task.
        let byTask = Dictionary(grouping: metrics.filter { $0.step != nil }, by: \.taskID)
        for (task, ms) in byTask.sorted(by: { $0.key < $1.key }) {
            let name = tasks.first { $0.taskID == task }?.name ?? "task \(task)"
            var series: [(String, [(Double, Double)], String)] = []
            for (key, color) in [
                ("epoch.loss", "#d62728"), ("epoch.accuracy", "#1f77b4"), ("epoch.validation_loss", "#ff7f0e"),
                ("epoch.validation_accuracy", "#2ca02c"),
            ] {
                let pts = ms.filter { $0.key == key }.compactMap { m in m.step.map { (Double($0), m.value) } }.sorted { $0.0 < $1.0 }
                if !pts.isEmpty { series.append((key.replacingOccurrences(of: "epoch.", with: ""), pts, color)) }
            }
            if !series.isEmpty {
                body += "<h2>Task \(task) · \(esc(name)): learning curves</h2>\n" + lineChart(series, xLabel: "epoch", id: "curves-\(task)")
            }
            let scores = ms.filter { $0.key == "trial.accuracy" || $0.key == "trial.score" }
            if !scores.isEmpty {
                let key = scores.contains { $0.key == "trial.accuracy" } ? "trial.accuracy" : "trial.score"
                let pts = scores.filter { $0.key == key }.compactMap { m in m.step.map { (Double($0), m.value) } }.sorted { $0.0 < $1.0 }
                body +=
                    "<h2>Task \(task) · \(esc(name)): optimizer trials (\(key == "trial.score" ? "score, lower is better" : "accuracy"))</h2>\n"
                body += barChart(pts.map { ("#\(Int($0.0))", $0.1) }, color: "#9467bd", id: "trials-\(task)")
            }
            let uppers = ms.filter { $0.key == "latency.bucket_upper_ms" }.sorted { ($0.step ?? 0) < ($1.step ?? 0) }
            let counts = ms.filter { $0.key == "latency.bucket_count" }.sorted { ($0.step ?? 0) < ($1.step ?? 0) }
            if !counts.isEmpty, uppers.count == counts.count {
                body += "<h2>Task \(task) · \(esc(name)): inference latency histogram</h2>\n"
                body += barChart(
                    zip(uppers, counts).map { (String(format: "≤%.3g ms", $0.value), $1.value) }, color: "#17becf", id: "latency-\(task)")
            }
        }

        // Gantt: one row per task, coloured by backend, grouped by agent.
        let timed = tasks.filter { $0.startedAt != nil && $0.finishedAt != nil }
        if !timed.isEmpty {
            body += "<h2>Timeline of tasks per agent and backend</h2>\n" + gantt(timed)
        }
        if samples.count > 1 {
            var series: [(String, [(Double, Double)], String)] = []
            let rss = samples.compactMap { s in s.resident.map { (s.t, $0 / 1_048_576) } }
            let pool = samples.compactMap { s in s.pool.map { (s.t, $0 / 1_048_576) } }
            if !rss.isEmpty { series.append(("process resident MB", rss, "#8c564b")) }
            if !pool.isEmpty { series.append(("device pool MB", pool, "#e377c2")) }
            if !series.isEmpty { body += "<h2>Memory over time</h2>\n" + lineChart(series, xLabel: "seconds", id: "memory") }
        }

        // Final metrics per task.
        body +=
            "<h2>Tasks</h2>\n<table><tr><th>#</th><th>name</th><th>type</th><th>agent</th><th>backend</th><th>state</th><th>run s</th></tr>\n"
        for t in tasks {
            let run = (t.startedAt != nil && t.finishedAt != nil) ? String(format: "%.3f", (t.finishedAt ?? 0) - (t.startedAt ?? 0)) : "—"
            body +=
                "<tr><td>\(t.taskID)</td><td>\(esc(t.name))</td><td>\(esc(t.type))</td><td>\(esc(t.agent ?? "—"))</td><td>\(esc(t.backend ?? "—"))</td><td>\(esc(t.state))</td><td>\(run)</td></tr>\n"
        }
        body += "</table>\n<h2>Final metrics</h2>\n<table><tr><th>task</th><th>metric</th><th>value</th></tr>\n"
        for m in metrics where m.step == nil {
            body += "<tr><td>\(m.taskID)</td><td>\(esc(m.key))</td><td>\(fmt(m.value))</td></tr>\n"
        }
        body += "</table>\n"
        body += confusionTables(metrics.filter { $0.step == nil })
        body += "<h2>Manifest</h2>\n<pre>\(esc(try manifest.json()))</pre>\n"
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>gpuflow run \(esc(run))</title>
            <style>
            body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
            h1{font-size:22px}h2{font-size:16px;margin-top:28px}.meta{color:#555}
            table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
            pre{background:#f6f6f6;padding:8px;overflow:auto;max-height:400px}svg{background:#fff;border:1px solid #ddd}
            .axis{stroke:#888;stroke-width:1}.label{font-size:11px;fill:#444}
            </style></head><body>
            \(body)</body></html>
            """
    }

    /// Each task's confusion matrix (recorded as `…confusion.<true>.<predicted>`), rows the
    /// true class, columns the predicted, classes in the store's key order (by name).
    static func confusionTables(_ metrics: [RunStore.Metric]) -> String {
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
            out += "<h2>Task \(task): confusion matrix (rows: true class, columns: predicted)</h2>\n<table><tr><th></th>"
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

    static func lineChart(_ series: [(name: String, points: [(Double, Double)], color: String)], xLabel: String, id: String) -> String {
        let w = 720.0, h = 260.0, l = 56.0, r = 150.0, t = 12.0, b = 34.0
        let xs = series.flatMap { $0.points.map(\.0) }, ys = series.flatMap { $0.points.map(\.1) }
        let x0 = xs.min() ?? 0, x1 = max(xs.max() ?? 1, x0 + 1e-9), y0 = min(ys.min() ?? 0, 0), y1 = max(ys.max() ?? 1, y0 + 1e-9)
        func px(_ x: Double) -> Double { l + (x - x0) / (x1 - x0) * (w - l - r) }
        func py(_ y: Double) -> Double { h - b - (y - y0) / (y1 - y0) * (h - t - b) }
        var s = "<svg id=\"\(id)\" class=\"chart\" width=\"\(Int(w))\" height=\"\(Int(h))\" viewBox=\"0 0 \(Int(w)) \(Int(h))\">"
        s +=
            "<line class=\"axis\" x1=\"\(l)\" y1=\"\(h - b)\" x2=\"\(w - r)\" y2=\"\(h - b)\"/><line class=\"axis\" x1=\"\(l)\" y1=\"\(t)\" x2=\"\(l)\" y2=\"\(h - b)\"/>"
        for i in 0...4 {
            let yv = y0 + (y1 - y0) * Double(i) / 4
            s += "<text class=\"label\" x=\"\(l - 6)\" y=\"\(py(yv) + 4)\" text-anchor=\"end\">\(fmt((yv * 1000).rounded() / 1000))</text>"
            let xv = x0 + (x1 - x0) * Double(i) / 4
            s +=
                "<text class=\"label\" x=\"\(px(xv))\" y=\"\(h - b + 16)\" text-anchor=\"middle\">\(fmt((xv * 100).rounded() / 100))</text>"
        }
        s += "<text class=\"label\" x=\"\((l + w - r) / 2)\" y=\"\(h - 4)\" text-anchor=\"middle\">\(esc(xLabel))</text>"
        for (k, ser) in series.enumerated() {
            let d = ser.points.enumerated().map { i, p in
                "\(i == 0 ? "M" : "L")\(String(format: "%.1f", px(p.0))),\(String(format: "%.1f", py(p.1)))"
            }.joined()
            s += "<path d=\"\(d)\" fill=\"none\" stroke=\"\(ser.color)\" stroke-width=\"2\"/>"
            s += "<rect x=\"\(w - r + 10)\" y=\"\(t + Double(k) * 18)\" width=\"12\" height=\"12\" fill=\"\(ser.color)\"/>"
            s += "<text class=\"label\" x=\"\(w - r + 28)\" y=\"\(t + Double(k) * 18 + 10)\">\(esc(ser.name))</text>"
        }
        return s + "</svg>\n"
    }

    static func barChart(_ bars: [(label: String, value: Double)], color: String, id: String) -> String {
        let w = 720.0, h = 240.0, l = 56.0, t = 10.0, b = 40.0
        let top = max(bars.map(\.value).max() ?? 1, 1e-12), bottom = min(bars.map(\.value).min() ?? 0, 0)
        let bw = (w - l - 10) / Double(max(bars.count, 1))
        var s = "<svg id=\"\(id)\" class=\"chart\" width=\"\(Int(w))\" height=\"\(Int(h))\" viewBox=\"0 0 \(Int(w)) \(Int(h))\">"
        s += "<line class=\"axis\" x1=\"\(l)\" y1=\"\(h - b)\" x2=\"\(w - 10)\" y2=\"\(h - b)\"/>"
        func py(_ y: Double) -> Double { h - b - (y - bottom) / (top - bottom) * (h - t - b) }
        for (i, bar) in bars.enumerated() {
            let x = l + Double(i) * bw + bw * 0.1, y = py(max(bar.value, bottom)), y0 = py(max(bottom, min(0, top)))
            s +=
                "<rect x=\"\(String(format: "%.1f", x))\" y=\"\(String(format: "%.1f", min(y, y0)))\" width=\"\(String(format: "%.1f", bw * 0.8))\" height=\"\(String(format: "%.1f", abs(y0 - y)))\" fill=\"\(color)\"><title>\(esc(bar.label)): \(fmt(bar.value))</title></rect>"
            if i % max(1, bars.count / 8) == 0 {
                s +=
                    "<text class=\"label\" x=\"\(String(format: "%.1f", x + bw * 0.4))\" y=\"\(h - b + 14)\" text-anchor=\"middle\">\(esc(bar.label))</text>"
            }
        }
        s += "<text class=\"label\" x=\"\(l - 6)\" y=\"\(t + 10)\" text-anchor=\"end\">\(fmt(top))</text>"
        return s + "</svg>\n"
    }

    static func gantt(_ tasks: [RunStore.TaskRow]) -> String {
        let rows = tasks.sorted { ($0.agent ?? "", $0.startedAt ?? 0) < ($1.agent ?? "", $1.startedAt ?? 0) }
        let t0 = rows.compactMap(\.startedAt).min() ?? 0, t1 = max(rows.compactMap(\.finishedAt).max() ?? 1, t0 + 1e-6)
        let w = 720.0, l = 170.0, rowH = 18.0, h = Double(rows.count) * rowH + 40
        let colors = ["vulkan": "#d62728", "simd": "#2ca02c", "cpu": "#1f77b4"]
        var s = "<svg id=\"gantt\" class=\"chart\" width=\"\(Int(w))\" height=\"\(Int(h))\" viewBox=\"0 0 \(Int(w)) \(Int(h))\">"
        for (i, r) in rows.enumerated() {
            let y = 10 + Double(i) * rowH
            let x = l + ((r.startedAt ?? t0) - t0) / (t1 - t0) * (w - l - 10)
            let width = max(1, ((r.finishedAt ?? t0) - (r.startedAt ?? t0)) / (t1 - t0) * (w - l - 10))
            s +=
                "<text class=\"label\" x=\"\(l - 6)\" y=\"\(y + 12)\" text-anchor=\"end\">\(esc((r.agent ?? "—") + " · #\(r.taskID) " + r.name))</text>"
            s +=
                "<rect x=\"\(String(format: "%.1f", x))\" y=\"\(y + 2)\" width=\"\(String(format: "%.1f", width))\" height=\"\(rowH - 4)\" fill=\"\(colors[r.backend ?? ""] ?? "#7f7f7f")\"><title>\(esc(r.name)) on \(esc(r.backend ?? "—")): \(fmt(((r.finishedAt ?? 0) - (r.startedAt ?? 0)) * 1000)) ms</title></rect>"
        }
        s +=
            "<text class=\"label\" x=\"\(l)\" y=\"\(h - 8)\">0 s</text><text class=\"label\" x=\"\(w - 10)\" y=\"\(h - 8)\" text-anchor=\"end\">\(String(format: "%.3f s", t1 - t0))</text>"
        for (k, (name, c)) in colors.sorted(by: { $0.key < $1.key }).enumerated() {
            s +=
                "<rect x=\"\(l + 120 + Double(k) * 80)\" y=\"\(h - 18)\" width=\"10\" height=\"10\" fill=\"\(c)\"/><text class=\"label\" x=\"\(l + 134 + Double(k) * 80)\" y=\"\(h - 9)\">\(name)</text>"
        }
        return s + "</svg>\n"
    }
}
