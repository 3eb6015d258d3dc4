import Foundation

/// Reads a CSV file (RFC 4180, through libcsv) into a data set.
///
/// Numeric feature columns,
/// categorical feature columns (text, coded 0, 1, ... per distinct value) and a label column of
/// numbers or class names (mapped to indices in order of first appearance). Every problem is
/// reported as `file:line:column: ...`; NaN and ±Inf cells are refused, missing cells too unless
/// `CSVOptions.missing` says to drop or fill them.
public enum CSVLoader {
    public typealias LabelColumn = CSVOptions.LabelColumn

    public static func load(path: String, label: LabelColumn = .last) throws -> Dataset {
        try load(path: path, options: CSVOptions(label: label))
    }

    public static func load(path: String, options: CSVOptions) throws -> Dataset {
        // Mapped, not copied: a 172 MB file read into memory cost a tenth of the load in page clearing.
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) else {
            throw DataError(file: path, "cannot read CSV file (missing or unreadable)")
        }
        return try parse(data, file: path, options: options)
    }

    public static func parse(_ text: String, file: String, label: LabelColumn = .last) throws -> Dataset {
        try parse(Data(text.utf8), file: file, options: CSVOptions(label: label))
    }

    public static func parse(_ text: String, file: String, options: CSVOptions) throws -> Dataset {
        try parse(Data(text.utf8), file: file, options: options)
    }

    /// `parallelAbove`: files at least this large are parsed in two halves at once (nil: never;
    /// tests compare the two ways on small files).
    public static func parse(
        _ data: Data, file: String, options: CSVOptions,
        parallelAbove: Int? = CSVParallelParse.minimumBytes
    ) throws -> Dataset {
        let table: CSVTableBuilder = try data.withUnsafeBytes { bytes in
            if let limit = parallelAbove, CSVParallelParse.eligible(bytes, minimumBytes: limit),
                let joined = CSVParallelParse.parse(bytes, file: file, options: options)
            {
                return joined
            }
            let table = CSVTableBuilder(file: file, options: options)
            try CSVTokenizer.tokenize(bytes, delimiter: options.delimiter, file: file, into: table)
            return table
        }
        guard table.columnCount > 0 else { throw DataError(file: file, line: 1, "empty file: expected a header row") }
        guard table.rows > 0 else { throw DataError(file: file, "no data rows\(options.header ? " after the header" : "")") }
        var features = table.features, labels = table.labels
        let cols = table.columnCount - 1
        let categories = table.categories()
        let note = try CSVMissingValues.apply(
            options.missing, features: &features, labels: &labels, cols: cols,
            categorical: Set(categories.map(\.column)), names: featureNames(table), file: file)
        let name = URL(fileURLWithPath: file).lastPathComponent
        return Dataset(
            features: features, rows: labels.count, cols: cols, labels: labels, featureNames: featureNames(table),
            labelName: table.names[table.labelIndex], classNames: table.classNames, categories: categories,
            source: note.map { "\(name) (\($0))" } ?? name)
    }

    private static func featureNames(_ table: CSVTableBuilder) -> [String] {
        table.names.enumerated().filter { $0.offset != table.labelIndex }.map(\.element)
    }
}
