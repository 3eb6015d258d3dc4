/// How `CSVLoader` reads a file.
///
/// Which column is the label, the delimiter, whether there is a header row, and what to do
/// with missing cells. Every option that changes the loaded data
/// changes the rows, codes or values, so the data set's fingerprint follows it.
public struct CSVOptions: Sendable, Equatable {
    public enum LabelColumn: Sendable, Equatable {
        case name(String)
        /// 0-based.
        case index(Int)
        case last
    }

    /// What a missing cell (empty, or one of `missingMarkers`) does.
    public enum Missing: String, Sendable, Equatable, CaseIterable {
        /// Stop with the file, line and column (the default: a silent fill is a wrong answer).
        case error
        /// Leave out every row with a missing cell.
        case drop
        /// Numeric columns: the column's mean over its present cells; categorical columns: the
        /// most frequent value (the lowest code on a tie). A missing label is still an error.
        case mean
    }

    public var label: LabelColumn
    /// One byte: ',' by default, ';' or '\t' for other dialects.
    ///
    /// Not a quote, a space or a line break.
    public var delimiter: UInt8
    /// Whether the first row names the columns.
    ///
    /// false: every row is data and the columns are named "1", "2" and so on (so `label = 3`
    /// and `label = "3"` name the same column).
    public var header: Bool
    public var missing: Missing
    /// Cell texts that count as missing besides the empty cell ("NA", as R and pandas write).
    public var missingMarkers: [String]

    public init(
        label: LabelColumn = .last, delimiter: UInt8 = UInt8(ascii: ","), header: Bool = true,
        missing: Missing = .error, missingMarkers: [String] = ["NA"]
    ) {
        self.label = label
        self.delimiter = delimiter
        self.header = header
        self.missing = missing
        self.missingMarkers = missingMarkers
    }

    /// The delimiter as one character, checked: quotes and line breaks would make RFC 4180
    /// ambiguous, and only one byte can be a delimiter.
    public static func delimiter(_ text: String) throws -> UInt8 {
        let bytes = Array(text.utf8)
        guard bytes.count == 1, let b = bytes.first, b != UInt8(ascii: "\""), b != 0x0A, b != 0x0D, b != 0x20 else {
            throw DataError(
                "delimiter must be one ASCII character other than a quote, a space or a line break (',' ';' '\\t' '|'), got '\(text)'")
        }
        return b
    }
}
