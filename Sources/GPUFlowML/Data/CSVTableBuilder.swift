import CFastFloat

/// Turns the fields of a CSV file into a table.
///
/// Numeric and categorical feature columns, and a label column of numbers or class names. A column's kind is decided by its first present
/// cell; a number after text is a category named by that text, text after numbers is an error
/// (a stray word in a numeric column is more often a typo than a category). Missing cells are
/// kept as NaN placeholders (the file's own NaN is refused, so NaN means missing) for
/// `CSVMissingValues` to drop, fill or report.
final class CSVTableBuilder: CSVFieldSink {
    enum Kind { case undecided, numeric, categorical }

    // The per-cell state is marked @exclusivity(unchecked): one thread parses and no access can
    // overlap, and the runtime checks cost 11% of loading 1,000,000 × 21 cells (perf).
    let file: String
    let options: CSVOptions
    private let markers: [[UInt8]]
    private let longestMarker: Int
    private(set) var names: [String] = []
    private(set) var labelIndex = -1
    /// Per column of the file, the label's included.
    @exclusivity(unchecked) var kinds: [Kind] = []
    private(set) var codes: [[String: Int]] = []
    var values: [[String]] = []
    /// rows × (columns − 1), row-major; NaN where a cell is missing.
    @exclusivity(unchecked) var features: [Float] = []
    @exclusivity(unchecked) var labels: [Float] = []
    /// Rows whose label is missing (only recorded under `missing = "drop"`).
    var rowsMissingLabel: [Int] = []
    var rows = 0
    /// The line of the first data row, for messages after parsing.
    private(set) var firstLine = 0
    @exclusivity(unchecked) private var fieldIndex = 0
    @exclusivity(unchecked) private var recordFirstLine = 0
    /// The header, or with header = false the first row, until its width is known.
    @exclusivity(unchecked) private var firstRecord: [[UInt8]]? = []
    /// A record's first field when it was empty: a record of that one field is a blank line.
    @exclusivity(unchecked) private var emptyFirstField = false

    var columnCount: Int { names.count }

    init(file: String, options: CSVOptions) {
        self.file = file
        self.options = options
        self.markers = options.missingMarkers.map { Array($0.utf8) }
        self.longestMarker = markers.map(\.count).max() ?? 0
    }

    /// A builder for a later part of the file: the columns are `names` (from the header or the
    /// first row), and every record it sees is data.
    convenience init(file: String, options: CSVOptions, continuing names: [String]) {
        self.init(file: file, options: options)
        firstRecord = nil
        start(names: names)
    }

    override func field(_ bytes: UnsafeRawBufferPointer) {
        guard failure == nil else { return }
        defer { fieldIndex += 1 }
        if fieldIndex == 0 { recordFirstLine = line }
        if firstRecord != nil {
            firstRecord?.append(Array(bytes))
            return
        }
        if fieldIndex == 0 && bytes.isEmpty {
            emptyFirstField = true
            return
        }
        if fieldIndex == 1 && emptyFirstField {
            emptyFirstField = false
            cell(UnsafeRawBufferPointer(start: nil, count: 0), column: 0)
        }
        guard fieldIndex < names.count else { return }  // ragged: reported at the record's end
        cell(bytes, column: fieldIndex)
    }

    override func endRecord() {
        guard failure == nil else { return }
        let count = fieldIndex
        fieldIndex = 0
        if let first = firstRecord {
            if first.count == 1 && first[0].isEmpty {  // a blank line before the first record
                firstRecord = []
                return
            }
            firstRecord = nil
            start(names: options.header ? first.map { text($0, what: "header") } : (1...first.count).map(String.init))
            guard failure == nil, !options.header else { return }
            for (c, raw) in first.enumerated() where c < names.count { raw.withUnsafeBytes { cell($0, column: c) } }
            return finishRow(count: first.count)
        }
        if emptyFirstField {
            emptyFirstField = false
            if count == 1 { return }  // a blank line
            cell(UnsafeRawBufferPointer(start: nil, count: 0), column: 0)
        }
        finishRow(count: count)
    }

    func start(names header: [String]) {
        names = header
        guard header.count >= 2 else {
            return fail(
                line: recordFirstLine, nil,
                "need at least one feature column and a label column (the \(options.header ? "header" : "first row") has \(header.count)); is the delimiter right?"
            )
        }
        switch options.label {
        case .last: labelIndex = header.count - 1
        case .index(let i):
            guard i >= 0, i < header.count else {
                return fail(
                    line: recordFirstLine, nil,
                    "label column \(i + 1) does not exist (the \(options.header ? "header" : "first row") has \(header.count) columns)")
            }
            labelIndex = i
        case .name(let n):
            guard let i = header.firstIndex(of: n) else {
                return fail(line: recordFirstLine, nil, "no column named '\(n)' in the header (columns: \(header.joined(separator: ", ")))")
            }
            labelIndex = i
        }
        kinds = Array(repeating: .undecided, count: header.count)
        codes = Array(repeating: [:], count: header.count)
        values = Array(repeating: [], count: header.count)
    }

    private func finishRow(count: Int) {
        guard count == names.count else {
            return fail(line: line, nil, "ragged row: \(count) fields, the header has \(names.count)")
        }
        if rows == 0 { firstLine = recordFirstLine }
        rows += 1
    }

    private func cell(_ bytes: UnsafeRawBufferPointer, column c: Int) {
        let isLabel = c == labelIndex
        if isMissing(bytes) {
            if isLabel {
                guard options.missing == .drop else {
                    return fail(line: line, c, "the label ('\(names[c])') is missing; give missing = \"drop\" to leave such rows out")
                }
                rowsMissingLabel.append(rows)
                labels.append(.nan)
            } else {
                guard options.missing != .error else {
                    return fail(
                        line: line, c,
                        "column '\(names[c])' is missing a value (an empty cell\(markers.isEmpty ? "" : " or " + options.missingMarkers.map { "'\($0)'" }.joined(separator: ", "))); give missing = \"drop\" or missing = \"mean\" to load such rows"
                    )
                }
                features.append(.nan)
            }
            return
        }
        if kinds[c] == .undecided { kinds[c] = number(bytes) == nil ? .categorical : .numeric }
        let value: Float
        if kinds[c] == .numeric {
            guard let v = number(bytes) else {
                let what =
                    isLabel
                    ? "label '\(text(bytes, what: "cell"))' is not a number like the labels above it"
                    : "column '\(names[c])' holds '\(text(bytes, what: "cell"))', which is not a number like the cells above it"
                return fail(line: line, c, what)
            }
            guard v.isFinite else {
                return fail(
                    line: line, c,
                    "column '\(names[c])' holds '\(text(bytes, what: "cell"))', which is not a finite number (NaN and ±Inf are refused; outside float32's ±3.4e38 too)"
                )
            }
            value = v
        } else {
            let name = text(bytes, what: "cell")
            if let code = codes[c][name] {
                value = Float(code)
            } else {
                codes[c][name] = values[c].count
                value = Float(values[c].count)
                values[c].append(name)
            }
        }
        if isLabel { labels.append(value) } else { features.append(value) }
    }

    private func isMissing(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if bytes.isEmpty { return true }
        guard bytes.count <= longestMarker else { return false }
        for m in markers where m.count == bytes.count && m.elementsEqual(bytes) { return true }
        return false
    }

    private func number(_ bytes: UnsafeRawBufferPointer) -> Float? {
        guard let base = bytes.baseAddress else { return nil }
        var v: Float = 0
        return gf_parse_float(base.assumingMemoryBound(to: CChar.self), bytes.count, &v) == 1 ? v : nil
    }

    private func text(_ bytes: [UInt8], what: String) -> String { bytes.withUnsafeBytes { text($0, what: what) } }

    private func text(_ bytes: UnsafeRawBufferPointer, what: String) -> String {
        if let s = String(validating: bytes, as: UTF8.self) { return s }
        fail(line: line, fieldIndex, "the \(what) is not UTF-8 text")
        return ""
    }

    private func fail(line: Int, _ column: Int?, _ message: String) {
        guard failure == nil else { return }
        failure = DataError(file: file, line: line, column: column.map { $0 + 1 }, message)
    }

    /// The categorical feature columns (label excluded), by feature index.
    func categories() -> [CategoricalColumn] {
        var out: [CategoricalColumn] = []
        var feature = 0
        for c in names.indices where c != labelIndex {
            if kinds[c] == .categorical { out.append(CategoricalColumn(name: names[c], column: feature, values: values[c])) }
            feature += 1
        }
        return out
    }

    /// The label's class names when the label column held text.
    var classNames: [String] { labelIndex >= 0 && kinds[labelIndex] == .categorical ? values[labelIndex] : [] }
}
