import CCSV
import Foundation

/// Receives the fields of an RFC 4180 file one at a time, with the line each ends on.
///
/// A class, not a protocol with generics: libcsv calls back through a C function pointer.
class CSVFieldSink {
    /// The 1-based line the tokenizer is reading; a field's line is the one it ends on.
    @exclusivity(unchecked) var line = 1
    /// Set by a subclass to stop the tokenizer at the end of the current line.
    @exclusivity(unchecked) var failure: DataError?
    /// `bytes` is valid only during the call; the surrounding quotes and "" escapes are undone.
    func field(_ bytes: UnsafeRawBufferPointer) {}
    func endRecord() {}
}

/// libcsv (RFC 4180: quoted fields with delimiters, "" escapes and line breaks inside) fed one
/// physical line at a time, so every field and error knows its line without a second pass.
enum CSVTokenizer {
    static func tokenize(_ bytes: UnsafeRawBufferPointer, delimiter: UInt8, file: String, into sink: CSVFieldSink) throws {
        var parser = csv_parser()
        // STRICT: a quote inside an unquoted field, or text after a closing quote, is an error
        // rather than a guess; STRICT_FINI: so is a quoted field still open at the end.
        guard csv_init(&parser, UInt8(CSV_STRICT | CSV_STRICT_FINI)) == 0 else {
            throw DataError(file: file, "cannot start the CSV parser (out of memory)")
        }
        defer { csv_free(&parser) }
        csv_set_delim(&parser, delimiter)
        // Spaces around unquoted fields are trimmed; a tab is a space only when it is not the delimiter.
        if delimiter == 0x09 {
            csv_set_space_func(&parser) { $0 == 0x20 ? 1 : 0 }
        } else {
            csv_set_space_func(&parser) { $0 == 0x20 || $0 == 0x09 ? 1 : 0 }
        }
        let onField: @convention(c) (UnsafeMutableRawPointer?, Int, UnsafeMutableRawPointer?) -> Void = { data, length, ctx in
            guard let ctx else { return }
            // The sink outlives the parse (the caller holds it): no retain and release per field.
            Unmanaged<CSVFieldSink>.fromOpaque(ctx)._withUnsafeGuaranteedRef {
                $0.field(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : length))
            }
        }
        let onRecord: @convention(c) (Int32, UnsafeMutableRawPointer?) -> Void = { _, ctx in
            guard let ctx else { return }
            Unmanaged<CSVFieldSink>.fromOpaque(ctx)._withUnsafeGuaranteedRef { $0.endRecord() }
        }
        let ctx = Unmanaged.passUnretained(sink).toOpaque()
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: CChar.self) else { return }
        var start = 0
        // A UTF-8 byte-order mark (Excel writes one) is not part of the first column's name.
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { start = 3 }
        // Lines end at '\n' ("\r\n" included); a file with none but '\r' uses old Mac endings.
        let newline: UInt8 = memchr(base, 0x0A, bytes.count) != nil ? 0x0A : 0x0D
        while start < bytes.count {
            var end = bytes.count
            if let p = memchr(base + start, Int32(newline), bytes.count - start) {
                end = base.distance(to: p.assumingMemoryBound(to: CChar.self)) + 1
            }
            let used = csv_parse(&parser, base + start, end - start, onField, onRecord, ctx)
            if let failure = sink.failure { throw failure }
            if used != end - start {
                throw error(parser, file: file, line: sink.line, column: used + 1)
            }
            start = end
            sink.line += 1
        }
        sink.line -= 1
        if csv_fini(&parser, onField, onRecord, ctx) != 0 {
            throw DataError(file: file, line: sink.line, "a quoted field is still open at the end of the file (a missing closing quote)")
        }
        if let failure = sink.failure { throw failure }
    }

    private static func error(_ parser: csv_parser, file: String, line: Int, column: Int) -> DataError {
        var p = parser
        switch Int32(csv_error(&p)) {
        case CSV_EPARSE:
            return DataError(
                file: file, line: line, column: column,
                "malformed quoting: a quote inside an unquoted field or text after a closing quote (RFC 4180 writes a quote inside a quoted field as \"\")"
            )
        case CSV_ENOMEM: return DataError(file: file, line: line, "out of memory while reading a field")
        default: return DataError(file: file, line: line, "a field too long to read")
        }
    }
}
