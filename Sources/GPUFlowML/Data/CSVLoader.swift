import Foundation

/// Reads a numeric CSV with a header row. Features must be numbers; the label column may hold
/// numbers or class names (mapped to indices in order of first appearance). Every problem is
/// reported with the file and the 1-based line.
public enum CSVLoader {
    public enum LabelColumn: Sendable {
        case name(String)
        /// 0-based.
        case index(Int)
        case last
    }

    public static func load(path: String, label: LabelColumn = .last) throws -> Dataset {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError(file: path, "cannot read CSV file (missing or unreadable)")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw DataError(file: path, "file is not UTF-8 text") }
        return try parse(text, file: path, label: label)
    }

    public static func parse(_ text: String, file: String, label: LabelColumn = .last) throws -> Dataset {
        // "\r\n" is one Character in Swift, so split on every newline form, not on "\n".
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
        while let last = lines.last, last.trimmingCharacters(in: .whitespaces).isEmpty { lines.removeLast() }
        guard let headerLine = lines.first else { throw DataError(file: file, line: 1, "empty file: expected a header row") }
        let header = headerLine.split(separator: ",", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        let labelIndex: Int
        switch label {
        case .last: labelIndex = header.count - 1
        case .index(let i):
            guard i >= 0, i < header.count else {
                throw DataError(file: file, line: 1, "label column \(i + 1) does not exist (the header has \(header.count) columns)")
            }
            labelIndex = i
        case .name(let n):
            guard let i = header.firstIndex(of: n) else {
                throw DataError(file: file, line: 1, "no column named '\(n)' in the header (columns: \(header.joined(separator: ", ")))")
            }
            labelIndex = i
        }
        guard header.count >= 2 else { throw DataError(file: file, line: 1, "need at least one feature column and a label column") }
        var features: [Float] = []
        var labels: [Float] = []
        var classNames: [String] = []
        var classIndex: [String: Int] = [:]
        var numericLabels: Bool?
        var rows = 0
        for (n, line) in lines.enumerated().dropFirst() {
            let lineNo = n + 1
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            let cells = line.split(separator: ",", omittingEmptySubsequences: false)
            guard cells.count == header.count else {
                throw DataError(file: file, line: lineNo, "ragged row: \(cells.count) fields, the header has \(header.count)")
            }
            for (c, raw) in cells.enumerated() {
                let cell = raw.trimmingCharacters(in: .whitespaces)
                if c == labelIndex {
                    let value = Float(cell)
                    if numericLabels == nil { numericLabels = value != nil }
                    if numericLabels == true {
                        guard let value, value.isFinite else {
                            throw DataError(file: file, line: lineNo, "label '\(cell)' is not a number like the labels above it")
                        }
                        labels.append(value)
                    } else {
                        guard !cell.isEmpty else { throw DataError(file: file, line: lineNo, "empty label") }
                        if classIndex[cell] == nil {
                            classIndex[cell] = classNames.count
                            classNames.append(cell)
                        }
                        labels.append(Float(classIndex[cell] ?? 0))
                    }
                } else {
                    guard let v = Float(cell), v.isFinite else {
                        throw DataError(file: file, line: lineNo,
                                        "column '\(header[c])' holds '\(cell)', which is not a number")
                    }
                    features.append(v)
                }
            }
            rows += 1
        }
        guard rows > 0 else { throw DataError(file: file, "no data rows after the header") }
        var names = header
        let labelName = names.remove(at: labelIndex)
        return Dataset(features: features, rows: rows, cols: header.count - 1, labels: labels, featureNames: names,
                       labelName: labelName, classNames: classNames, source: URL(fileURLWithPath: file).lastPathComponent)
    }
}
