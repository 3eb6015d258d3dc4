import Testing

@testable import GPUFlowStore

/// The filter and sort of `gpuflow runs list` on runs made in memory: numbers compare as
/// numbers, text as text, a missing field never matches and sorts last.
@Suite struct RunQueryTests {
    private func run(_ id: String, lr: String?, accuracy: Double?, tag: String? = nil, status: String = "succeeded") -> RunStore.TrackedRun
    {
        RunStore.TrackedRun(
            summary: RunStore.RunSummary(
                id: id, status: status, exitCode: status == "succeeded" ? 0 : 1, startedAt: 100, endedAt: 102.5, script: "t.lua",
                backend: "cpu", tasks: 1, resumedFrom: nil),
            name: "n-\(id)", experiment: "e", params: lr.map { ["lr": $0, "seed": "0"] } ?? ["seed": "0"],
            tags: tag.map { ["stage": $0] } ?? [:],
            metrics: accuracy.map { ["accuracy": RunStore.LoggedMetric(last: $0, step: 2, min: $0 - 0.1, max: $0, count: 3)] } ?? [:])
    }

    @Test func filtersCompareNumbersAsNumbersAndSkipMissingFields() throws {
        let runs = [
            run("a", lr: "0.01", accuracy: 0.95, tag: "final"), run("b", lr: "0.1", accuracy: 0.85),
            run("c", lr: "1e-3", accuracy: nil, tag: "draft", status: "failed"), run("d", lr: nil, accuracy: 0.99),
        ]
        func ids(_ f: String) throws -> [String] { try runs.filter(RunFilter(f).matches).map(\.summary.id) }
        #expect(try ids("metrics.accuracy > 0.9") == ["a", "d"])
        #expect(try ids("metrics.accuracy >= 0.85 and params.lr < 0.05") == ["a"])  // 0.01 < 0.05 as numbers
        #expect(try ids("params.lr = 0.001") == ["c"])  // 1e-3 and 0.001 are one number
        #expect(try ids("params.lr != 0.01") == ["b", "c"])  // d has no lr: no match
        #expect(try ids("tags.stage = 'final'") == ["a"])
        #expect(try ids("status = failed") == ["c"])
        #expect(try ids("attributes.duration_s == 2.5 AND name = \"n-b\"") == ["b"])
        #expect(try ids("metrics.`accuracy` <= 0.85") == ["b"])
    }

    @Test func badFiltersSayWhere() {
        for (f, at) in [("metrics.accuracy >", 19), ("loss > 1", 1), ("metrics.a > 1 or x = 2", 15), ("metrics.a ~ 1", 11)] {
            #expect(throws: RunQueryError.self) { try RunFilter(f) }
            do {
                _ = try RunFilter(f)
            } catch {
                #expect("\(error)".contains("at character \(at):"), "\(f): \(error)")
            }
        }
    }

    @Test func sortsEitherWayWithMissingValuesLast() throws {
        let runs = [run("a", lr: "0.01", accuracy: 0.95), run("b", lr: "0.1", accuracy: nil), run("c", lr: "0.05", accuracy: 0.5)]
        #expect(try RunSort("metrics.accuracy").sorted(runs).map(\.summary.id) == ["c", "a", "b"])
        #expect(try RunSort("-metrics.accuracy").sorted(runs).map(\.summary.id) == ["a", "c", "b"])
        #expect(try RunSort("params.lr desc").sorted(runs).map(\.summary.id) == ["b", "c", "a"])
        #expect(throws: RunQueryError.self) { try RunSort("nothing.here") }
    }
}
