import Foundation
import Testing

@testable import GPUFlowStore

/// An inference's confusion matrix, recorded one row per cell, comes back as a table of the
/// report: rows the true class, columns the predicted, each count in its cell.
@Suite struct ReportConfusionTests {
    @Test func theConfusionMatrixIsATable() {
        let cells: [(String, String, Double)] = [
            ("Adelie", "Adelie", 45), ("Adelie", "Gentoo", 1), ("Gentoo", "Adelie", 2), ("Gentoo", "Gentoo", 37),
        ]
        let metrics =
            cells.map { RunStore.Metric(taskID: 3, key: "metrics.confusion.\($0.0).\($0.1)", value: $0.2) }
            + [RunStore.Metric(taskID: 3, key: "metrics.f1_macro", value: 0.9)]
        let html = ReportBuilder.confusionTables(metrics, names: [3: "serve"])
        #expect(html.contains("serve: confusion matrix"), "headed by the task's name")
        #expect(ReportBuilder.confusionTables(metrics).contains("task 3: confusion matrix"))
        #expect(html.contains("<tr><th>Adelie</th><td>45</td><td>1</td></tr>"), "\(html)")
        #expect(html.contains("<tr><th>Gentoo</th><td>2</td><td>37</td></tr>"), "\(html)")
        #expect(ReportBuilder.confusionTables([RunStore.Metric(taskID: 1, key: "metrics.accuracy", value: 1)]).isEmpty)
    }
}
