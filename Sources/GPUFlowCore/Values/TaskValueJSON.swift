import Foundation

/// TaskValue as JSON text: tables keep their key order, objects become their identifiers,
/// non-finite numbers (which JSON cannot hold) become null, and bytes that are not UTF-8
/// become text with U+FFFD in place of each invalid sequence (JSON strings hold only text).
public enum TaskValueJSON {
    public static func encode(_ v: TaskValue, indent: String? = "  ") -> String {
        var out = ""
        write(v, into: &out, indent: indent, level: 0)
        return out
    }

    private static func write(_ v: TaskValue, into out: inout String, indent: String?, level: Int) {
        let nl = indent == nil ? "" : "\n"
        func pad(_ l: Int) -> String { indent.map { String(repeating: $0, count: l) } ?? "" }
        switch v {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .integer(let i): out += String(i)
        case .number(let d): out += d.isFinite ? number(d) : "null"
        case .string(let s): out += quote(s)
        case .bytes(let b): out += quote(String(decoding: b, as: UTF8.self))
        case .object(let o): out += quote("\(o.kind):\(o.objectID)")
        case .floats(let f):
            out += "[" + f.map { $0.isFinite ? number(Double($0)) : "null" }.joined(separator: ",") + "]"
        case .array(let a):
            if a.isEmpty { out += "[]"; return }
            out += "[" + nl
            for (i, e) in a.enumerated() {
                out += pad(level + 1)
                write(e, into: &out, indent: indent, level: level + 1)
                out += (i + 1 < a.count ? "," : "") + nl
            }
            out += pad(level) + "]"
        case .table(let t):
            if t.isEmpty { out += "{}"; return }
            out += "{" + nl
            for (i, (k, e)) in t.enumerated() {
                out += pad(level + 1) + quote(k) + (indent == nil ? ":" : ": ")
                write(e, into: &out, indent: indent, level: level + 1)
                out += (i + 1 < t.count ? "," : "") + nl
            }
            out += pad(level) + "}"
        }
    }

    private static func number(_ d: Double) -> String {
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        return "\(d)"
    }

    static func quote(_ s: String) -> String {
        var r = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": r += "\\\""
            case "\\": r += "\\\\"
            case "\n": r += "\\n"
            case "\r": r += "\\r"
            case "\t": r += "\\t"
            case _ where u.value < 0x20: r += String(format: "\\u%04x", u.value)
            default: r.unicodeScalars.append(u)
            }
        }
        return r + "\""
    }
}
