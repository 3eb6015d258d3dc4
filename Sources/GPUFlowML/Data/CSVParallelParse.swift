import Foundation

/// Two halves of a large CSV file parsed at once, on two cores, then joined — with the result
/// (and every error) exactly the sequential parse's.
///
/// Only files without a quote character are split (so no line break can sit inside a field),
/// at the line break nearest the middle. The second half is parsed as data under the header;
/// where its view of a column could differ from the sequential one (a column whose kind the
/// halves decided differently) or where it failed, the whole file is parsed again in order, so
/// a message names the same line and column it always did.
public enum CSVParallelParse {
    /// Below this a second thread does not pay for itself.
    public static let minimumBytes = 8 << 20

    static func eligible(_ bytes: UnsafeRawBufferPointer, minimumBytes: Int = minimumBytes) -> Bool {
        guard bytes.count >= max(minimumBytes, 2), ProcessInfo.processInfo.activeProcessorCount >= 2,
            let base = bytes.baseAddress
        else { return false }
        return memchr(base, 0x22, bytes.count) == nil && memchr(base, 0x0A, bytes.count) != nil
    }

    /// The joined table's pieces, or nil when the sequential parse must decide.
    static func parse(_ bytes: UnsafeRawBufferPointer, file: String, options: CSVOptions) -> CSVTableBuilder? {
        guard let base = bytes.baseAddress else { return nil }
        // The header (or first row) alone gives the columns the second half needs.
        guard let headerEnd = memchr(base, 0x0A, bytes.count).map({ base.distance(to: $0) + 1 }) else { return nil }
        let header = CSVTableBuilder(file: file, options: options)
        guard
            (try? CSVTokenizer.tokenize(
                UnsafeRawBufferPointer(rebasing: bytes[0..<headerEnd]), delimiter: options.delimiter, file: file,
                into: header)) != nil, header.columnCount >= 2
        else { return nil }
        let names = header.names
        var split = bytes.count / 2
        guard split > headerEnd, let p = memchr(base + split, 0x0A, bytes.count - split) else { return nil }
        split = base.distance(to: p) + 1
        guard split < bytes.count else { return nil }
        let first = CSVTableBuilder(file: file, options: options)
        let second = CSVTableBuilder(file: file, options: options, continuing: names)
        let failed = ManagedFlag()
        let done = DispatchSemaphore(value: 0)
        // The second half's builder and bytes belong to the worker until `done`: nothing else
        // touches them meanwhile.
        let handoff = Handoff(bytes: UnsafeRawBufferPointer(rebasing: bytes[split...]), sink: second)
        let worker = Thread {
            if (try? CSVTokenizer.tokenize(handoff.bytes, delimiter: options.delimiter, file: file, into: handoff.sink)) == nil {
                failed.set()
            }
            done.signal()
        }
        worker.start()
        let firstOK =
            (try? CSVTokenizer.tokenize(
                UnsafeRawBufferPointer(rebasing: bytes[0..<split]), delimiter: options.delimiter, file: file,
                into: first)) != nil
        done.wait()
        guard firstOK, !failed.value, first.rows > 0, second.rows > 0, join(first, second) else { return nil }
        return first
    }

    /// Appends `b`'s rows to `a`, recoding `b`'s categories into `a`'s codes; false where the
    /// halves disagree on a column's kind (the sequential parse then decides).
    private static func join(_ a: CSVTableBuilder, _ b: CSVTableBuilder) -> Bool {
        guard a.columnCount == b.columnCount, a.labelIndex == b.labelIndex else { return false }
        let n = a.columnCount
        var recode: [[Float]?] = Array(repeating: nil, count: n)
        for c in 0..<n {
            switch (a.kinds[c], b.kinds[c]) {
            case (.undecided, let k):  // the first half had no value here: the second half's kind holds
                a.kinds[c] = k
                if k == .categorical { recode[c] = merge(a, b, c) }
            case (_, .undecided), (.numeric, .numeric): break
            case (.categorical, .categorical): recode[c] = merge(a, b, c)
            default: return false  // text after numbers, or numbers after text: decided in order
            }
        }
        let cols = n - 1
        var features = b.features, labels = b.labels
        for c in 0..<n {
            guard let map = recode[c] else { continue }
            if c == a.labelIndex {
                for i in labels.indices where !labels[i].isNaN { labels[i] = map[Int(labels[i])] }
            } else {
                let f = c < a.labelIndex ? c : c - 1
                for r in 0..<b.rows where !features[r * cols + f].isNaN { features[r * cols + f] = map[Int(features[r * cols + f])] }
            }
        }
        a.rowsMissingLabel += b.rowsMissingLabel.map { $0 + a.rows }
        a.features += features
        a.labels += labels
        a.rows += b.rows
        return true
    }

    /// `b`'s codes of column `c` in `a`'s numbering (new values appended in `b`'s order, as the
    /// sequential parse would have met them).
    private static func merge(_ a: CSVTableBuilder, _ b: CSVTableBuilder, _ c: Int) -> [Float] {
        var index = Dictionary(uniqueKeysWithValues: a.values[c].enumerated().map { ($1, $0) })
        var map: [Float] = []
        for v in b.values[c] {
            if let i = index[v] {
                map.append(Float(i))
            } else {
                index[v] = a.values[c].count
                map.append(Float(a.values[c].count))
                a.values[c].append(v)
            }
        }
        return map
    }
}

private struct Handoff: @unchecked Sendable {
    let bytes: UnsafeRawBufferPointer
    let sink: CSVTableBuilder
}

/// A flag one thread sets and another reads after joining it.
private final class ManagedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var isSet = false
    func set() { lock.withLock { isSet = true } }
    var value: Bool { lock.withLock { isSet } }
}
