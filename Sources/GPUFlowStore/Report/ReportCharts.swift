import Foundation

/// The report's SVG charts: written out, no script, so the file opens anywhere. Axes get
/// round ticks (1, 2 or 5 times a power of ten), and integer ones only where the quantity is
/// a count (epochs, steps).
enum ReportCharts {
    typealias Series = (name: String, points: [(Double, Double)], color: String)

    /// About `count` round values covering lo...hi; whole numbers only when `integral`.
    static func ticks(_ lo: Double, _ hi: Double, count: Int = 5, integral: Bool = false) -> [Double] {
        guard hi > lo, lo.isFinite, hi.isFinite else { return [lo] }
        let raw = (hi - lo) / Double(max(count - 1, 1))
        let mag = pow(10, floor(log10(raw)))
        var step = ([1.0, 2, 5, 10].first { $0 * mag >= raw } ?? 10) * mag
        if integral { step = max(1, step.rounded(.up)) }
        var out: [Double] = []
        var v = (lo / step).rounded(.up) * step
        while v <= hi * (1 + 1e-12) + 1e-12 {
            out.append(abs(v) < step * 1e-9 ? 0 : v)
            v += step
        }
        return out.isEmpty ? [lo] : out
    }

    static func lineChart(_ series: [Series], xLabel: String, yLabel: String = "", integerX: Bool = false, id: String) -> String {
        let w = 720.0, h = 260.0, l = 62.0, r = 170.0, t = 12.0, b = 38.0
        let xs = series.flatMap { $0.points.map(\.0) }, ys = series.flatMap { $0.points.map(\.1) }
        let x0 = xs.min() ?? 0, x1 = max(xs.max() ?? 1, x0 + (integerX ? 1 : 1e-9))
        // The y range hugs the data (a loss from 1.1 to 0.05 uses the whole height) with a
        // little room; zero is included only when the data comes near it.
        var y0 = ys.min() ?? 0, y1 = ys.max() ?? 1
        if y1 - y0 < 1e-12 { y0 -= 0.5; y1 += 0.5 }
        let pad = (y1 - y0) * 0.05
        y0 = (y0 >= 0 && y0 - pad * 4 <= 0) ? 0 : y0 - pad
        y1 += pad
        func px(_ x: Double) -> Double { l + (x - x0) / (x1 - x0) * (w - l - r) }
        func py(_ y: Double) -> Double { h - b - (y - y0) / (y1 - y0) * (h - t - b) }
        var s = "<svg id=\"\(id)\" class=\"chart\" width=\"\(Int(w))\" height=\"\(Int(h))\" viewBox=\"0 0 \(Int(w)) \(Int(h))\">"
        s +=
            "<line class=\"axis\" x1=\"\(l)\" y1=\"\(h - b)\" x2=\"\(w - r)\" y2=\"\(h - b)\"/><line class=\"axis\" x1=\"\(l)\" y1=\"\(t)\" x2=\"\(l)\" y2=\"\(h - b)\"/>"
        for yv in ticks(y0, y1) {
            s += "<line class=\"grid\" x1=\"\(l)\" y1=\"\(f1(py(yv)))\" x2=\"\(w - r)\" y2=\"\(f1(py(yv)))\"/>"
            s += "<text class=\"label ytick\" x=\"\(l - 6)\" y=\"\(f1(py(yv) + 4))\" text-anchor=\"end\">\(num(yv))</text>"
        }
        for xv in ticks(x0, x1, count: 8, integral: integerX) {
            s += "<text class=\"label xtick\" x=\"\(f1(px(xv)))\" y=\"\(h - b + 16)\" text-anchor=\"middle\">\(num(xv))</text>"
        }
        s += "<text class=\"label\" x=\"\((l + w - r) / 2)\" y=\"\(h - 4)\" text-anchor=\"middle\">\(ReportBuilder.esc(xLabel))</text>"
        if !yLabel.isEmpty {
            s +=
                "<text class=\"label\" transform=\"translate(12 \((t + h - b) / 2)) rotate(-90)\" text-anchor=\"middle\">\(ReportBuilder.esc(yLabel))</text>"
        }
        for (k, ser) in series.enumerated() {
            let d = ser.points.enumerated().map { i, p in "\(i == 0 ? "M" : "L")\(f1(px(p.0))),\(f1(py(p.1)))" }.joined()
            s += "<path d=\"\(d)\" fill=\"none\" stroke=\"\(ser.color)\" stroke-width=\"2\"/>"
            if ser.points.count <= 40 {
                for p in ser.points {
                    s +=
                        "<circle cx=\"\(f1(px(p.0)))\" cy=\"\(f1(py(p.1)))\" r=\"2.5\" fill=\"\(ser.color)\"><title>\(ReportBuilder.esc(ser.name)) at \(num(p.0)): \(ReportBuilder.fmt(p.1))</title></circle>"
                }
            }
            s += "<rect x=\"\(w - r + 10)\" y=\"\(t + Double(k) * 18)\" width=\"12\" height=\"12\" fill=\"\(ser.color)\"/>"
            s += "<text class=\"label\" x=\"\(w - r + 28)\" y=\"\(t + Double(k) * 18 + 10)\">\(ReportBuilder.esc(ser.name))</text>"
        }
        return s + "</svg>\n"
    }

    /// Bars with a y axis of round ticks from zero (or from the lowest value when all are
    /// negative) and a label under every bar that fits; `highlight` marks one bar.
    static func barChart(
        _ bars: [(label: String, value: Double)], color: String, yLabel: String, highlight: Int? = nil, id: String
    ) -> String {
        let w = 720.0, h = 260.0, l = 70.0, t = 12.0, b = 48.0
        let top = max(bars.map(\.value).max() ?? 1, 0), bottom = min(bars.map(\.value).min() ?? 0, 0)
        let yTicks = ticks(bottom, top > bottom ? top : bottom + 1)
        let y0 = min(bottom, yTicks.first ?? bottom), y1 = max(top, yTicks.last ?? top, y0 + 1e-12)
        let bw = (w - l - 10) / Double(max(bars.count, 1))
        func py(_ y: Double) -> Double { h - b - (y - y0) / (y1 - y0) * (h - t - b) }
        var s = "<svg id=\"\(id)\" class=\"chart\" width=\"\(Int(w))\" height=\"\(Int(h))\" viewBox=\"0 0 \(Int(w)) \(Int(h))\">"
        for yv in yTicks {
            s += "<line class=\"grid\" x1=\"\(l)\" y1=\"\(f1(py(yv)))\" x2=\"\(w - 10)\" y2=\"\(f1(py(yv)))\"/>"
            s += "<text class=\"label ytick\" x=\"\(l - 6)\" y=\"\(f1(py(yv) + 4))\" text-anchor=\"end\">\(num(yv))</text>"
        }
        s += "<line class=\"axis\" x1=\"\(l)\" y1=\"\(f1(py(0)))\" x2=\"\(w - 10)\" y2=\"\(f1(py(0)))\"/>"
        s += "<line class=\"axis\" x1=\"\(l)\" y1=\"\(t)\" x2=\"\(l)\" y2=\"\(h - b)\"/>"
        s +=
            "<text class=\"label\" transform=\"translate(12 \((t + h - b) / 2)) rotate(-90)\" text-anchor=\"middle\">\(ReportBuilder.esc(yLabel))</text>"
        let every = max(1, Int((Double(bars.count) * 60 / (w - l)).rounded(.up)))
        for (i, bar) in bars.enumerated() {
            let x = l + Double(i) * bw + bw * 0.1, y = py(bar.value), zero = py(0)
            let fill = i == highlight ? "#ff7f0e" : color
            s +=
                "<rect x=\"\(f1(x))\" y=\"\(f1(min(y, zero)))\" width=\"\(f1(bw * 0.8))\" height=\"\(f1(abs(zero - y)))\" fill=\"\(fill)\"><title>\(ReportBuilder.esc(bar.label)): \(ReportBuilder.fmt(bar.value))</title></rect>"
            if i % every == 0 {
                s +=
                    "<text class=\"label xtick\" x=\"\(f1(x + bw * 0.4))\" y=\"\(h - b + 14)\" text-anchor=\"middle\">\(ReportBuilder.esc(bar.label))</text>"
            }
        }
        return s + "</svg>\n"
    }

    static func f1(_ v: Double) -> String { String(format: "%.1f", v) }

    /// A tick's text: no float noise (0.30000000000000004 → 0.3).
    static func num(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e12 { return String(Int(v)) }
        return String(format: "%.4g", v)
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
                "<text class=\"label\" x=\"\(l - 6)\" y=\"\(y + 12)\" text-anchor=\"end\">\(ReportBuilder.esc((r.agent ?? "—") + " · #\(r.taskID) " + r.name))</text>"
            s +=
                "<rect x=\"\(String(format: "%.1f", x))\" y=\"\(y + 2)\" width=\"\(String(format: "%.1f", width))\" height=\"\(rowH - 4)\" fill=\"\(colors[r.backend ?? ""] ?? "#7f7f7f")\"><title>\(ReportBuilder.esc(r.name)) on \(ReportBuilder.esc(r.backend ?? "—")): \(ReportBuilder.fmt(((r.finishedAt ?? 0) - (r.startedAt ?? 0)) * 1000)) ms</title></rect>"
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
