/// How many arguments a script may take and how large, for every layer that passes them on:
/// the CLI and the host push them onto the script's stack, the job server puts them on a
/// worker's command line. One declaration, so the server refuses at submission exactly what
/// the worker would.
public enum ScriptArgumentLimits {
    public static let maxArguments = 256
    public static let maxArgumentBytes = 64 << 10
    public static let maxTotalBytes = 1 << 20

    /// Why these arguments cannot be passed to a script, or nil when they can.
    public static func problem(_ arguments: [String]) -> String? {
        if arguments.count > maxArguments {
            return "\(arguments.count) script arguments is more than the \(maxArguments) a script may take"
        }
        if let (i, a) = arguments.enumerated().first(where: { $0.element.utf8.count > maxArgumentBytes }) {
            return "script argument \(i + 1) is \(a.utf8.count) bytes, over the \(maxArgumentBytes)-byte limit"
        }
        let total = arguments.reduce(0) { $0 + $1.utf8.count }
        if total > maxTotalBytes { return "the script arguments are \(total) bytes in all, over the \(maxTotalBytes)-byte limit" }
        return nil
    }
}
