import Foundation

/// Where in a script a Lua error happened, read from its message and traceback: what a failed
/// run keeps (`runs show`, the report, `--json`) so that the line is there after the terminal
/// has scrolled away.
public enum LuaFailure {
    /// "train.lua:12" of "train.lua:12: bad value" (Lua's `chunk:line:` prefix), or nil.
    public static func location(in message: String) -> String? {
        frames(message.split(separator: "\n").first.map(String.init) ?? "").first
    }

    /// The innermost line of `script` the error passed through: the traceback's first frame in
    /// that file (an error raised inside the stdlib points at the script's call), else the
    /// message's own location.
    public static func scriptLine(message: String, traceback: String?, script: String) -> String? {
        let name = (script as NSString).lastPathComponent
        let candidates = (location(in: message).map { [$0] } ?? []) + (traceback.map(frames) ?? [])
        return candidates.first { inScript($0, script: script, name: name) } ?? location(in: message)
    }

    /// Lua shortens long chunk names to "...tail" (LUA_IDSIZE): a frame matches the script when
    /// its file is the script's path (or that path made relative), or a shortened tail of it
    /// that still holds a folder or the whole name; never a file of the stdlib.
    static func inScript(_ frame: String, script: String, name: String) -> Bool {
        guard let colon = frame.lastIndex(of: ":") else { return false }
        var file = String(frame[..<colon])
        guard !file.contains("stdlib/") else { return false }
        if file.hasPrefix("...") {
            // A shortened name: its tail, cut anywhere, must end the script's path.
            file.removeFirst(3)
            return script.hasSuffix(file) && (file.contains("/") || file == name)
        }
        // The same path, or one of them relative to where the other begins.
        return file == script || script.hasSuffix("/" + file) || file.hasSuffix("/" + script)
    }

    /// Every `file:line` at the start of a line or after a tab ("\tfile:12: in ...").
    static func frames(_ text: String) -> [String] {
        var out: [String] = []
        for raw in text.split(separator: "\n") {
            let line = raw.drop { $0 == "\t" || $0 == " " }
            guard !line.hasPrefix("["), let end = line.range(of: ": ") else { continue }
            let head = line[..<end.lowerBound]
            guard let colon = head.lastIndex(of: ":") else { continue }
            let digits = head[head.index(after: colon)...]
            if !digits.isEmpty, digits.allSatisfy(\.isNumber), colon > head.startIndex { out.append(String(head)) }
        }
        return out
    }
}
