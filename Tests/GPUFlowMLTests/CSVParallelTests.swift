import Foundation
import Testing

@testable import GPUFlowML

/// A large file is parsed in two halves at once; the data set and every error must be the
/// one-thread parse's, whatever the halves see: categories and classes first met in the second
/// half, missing cells on both sides, a column whose kind only the second half decides, and
/// columns the halves would decide differently.
@Suite struct CSVParallelTests {
    /// `rows` rows over 8 MiB: x (numbers), colour (text: "blue" only in the second half),
    /// late (missing in the whole first half, numbers in the second), and a text label with a
    /// class that appears only in the second half.
    private func file(rows: Int = 40_000, missingEvery: Int = 0, tail: (Int) -> String? = { _ in nil }) -> Data {
        var s = "x,colour,late,label\n"
        s.reserveCapacity(rows * 40)
        for r in 0..<rows {
            if let t = tail(r) { s += t + "\n"; continue }
            let second = r >= rows / 2
            let colour = second && r % 7 == 0 ? "blue" : (r % 2 == 0 ? "red" : "green")
            let x = missingEvery > 0 && r % missingEvery == 3 ? "" : String(format: "%.4f", Double(r % 1000) / 7)
            let late = second ? String(r % 13) : ""
            let label = second && r % 5 == 0 ? "gamma" : (r % 3 == 0 ? "alpha" : "beta")
            s += "\(x),\(colour),\(late),\(label)\n"
        }
        return Data(s.utf8)
    }

    private func same(_ a: Dataset, _ b: Dataset) {
        #expect(a.rows == b.rows && a.cols == b.cols)
        #expect(a.features.map(\.bitPattern) == b.features.map(\.bitPattern))
        #expect(a.labels == b.labels)
        #expect(a.classNames == b.classNames)
        #expect(a.categories.map { "\($0.name) \($0.column) \($0.values)" } == b.categories.map { "\($0.name) \($0.column) \($0.values)" })
        #expect(a.source == b.source && a.objectID == b.objectID)
    }

    @Test func twoHalvesGiveTheOneThreadDataSet() throws {
        let data = file()
        let options = CSVOptions(missing: .mean)
        #expect(data.withUnsafeBytes { CSVParallelParse.parse($0, file: "big.csv", options: options) } != nil, "the halves were joined")
        let parallel = try CSVLoader.parse(data, file: "big.csv", options: options, parallelAbove: 0)
        let serial = try CSVLoader.parse(data, file: "big.csv", options: options, parallelAbove: nil)
        same(parallel, serial)
        #expect(parallel.classNames == ["beta", "alpha", "gamma"] || parallel.classNames.contains("gamma"))
        #expect(parallel.categories.first { $0.name == "colour" }?.values.last == "blue")
    }

    @Test func droppedRowsAndHeaderlessFilesAgreeToo() throws {
        let data = file(missingEvery: 1000)
        // Headerless, the header's words are a first row of text: x is categorical in the first
        // half only, so that file is decided in order; the other is joined.
        for (options, joined) in [(CSVOptions(missing: .drop), true), (CSVOptions(header: false, missing: .mean), false)] {
            #expect((data.withUnsafeBytes { CSVParallelParse.parse($0, file: "big.csv", options: options) } != nil) == joined)
            let parallel = try CSVLoader.parse(data, file: "big.csv", options: options, parallelAbove: 0)
            let serial = try CSVLoader.parse(data, file: "big.csv", options: options, parallelAbove: nil)
            same(parallel, serial)
        }
    }

    /// Text after numbers in the second half is the one-thread parse's error, at the same place;
    /// numbers after text are categories, as in order.
    @Test func columnsTheHalvesDecideDifferentlyAreDecidedInOrder() throws {
        let rows = 40_000
        let word = file(rows: rows) { $0 == rows - 10 ? "oops,red,1,alpha" : nil }
        func message(_ parallel: Bool) -> String {
            do {
                _ = try CSVLoader.parse(word, file: "big.csv", options: CSVOptions(missing: .mean), parallelAbove: parallel ? 0 : nil)
                return "loaded"
            } catch { return "\(error)" }
        }
        #expect(message(true) == message(false) && message(true).contains("big.csv:\(rows - 10 + 2):1:"), "\(message(true))")
        var s = "x,tag,label\n"
        for r in 0..<rows { s += "1,\(r < rows / 10 ? "t\(r % 3)" : String(r % 4)),a\n" }
        let mixed = Data(s.utf8)
        #expect(
            mixed.withUnsafeBytes { CSVParallelParse.parse($0, file: "m.csv", options: CSVOptions()) } == nil, "decided in order instead")
        same(
            try CSVLoader.parse(mixed, file: "m.csv", options: CSVOptions(), parallelAbove: 0),
            try CSVLoader.parse(mixed, file: "m.csv", options: CSVOptions(), parallelAbove: nil))
    }
}
