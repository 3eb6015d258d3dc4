/// ArgumentParser hands what follows `--` over as further positionals, mixed into the command's
/// own; this splits them again by counting what stands after `--` on the real command line.
/// Returns nil where the command line has no `--`.
func splitAtDoubleDash(_ positionals: [String]) -> (before: [String], after: [String])? {
    let raw = CommandLine.arguments
    guard let i = raw.firstIndex(of: "--") else { return nil }
    let n = min(raw.count - i - 1, positionals.count)
    return (Array(positionals.dropLast(n)), Array(positionals.suffix(n)))
}
