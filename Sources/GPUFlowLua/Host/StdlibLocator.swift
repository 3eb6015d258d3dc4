import Foundation

/// Finds stdlib/ relative to the running binary (installed layout or source tree), never the
/// current directory, so a script runs the same from anywhere.
public enum StdlibLocator {
    /// Search order: $GPUFLOW_STDLIB; <bin>/stdlib; <bin>/../share/gpuflow/stdlib; then each
    /// parent of the binary's folder (covers .build/<config>/gpuflow inside a checkout).
    public static func find() throws -> String {
        let fm = FileManager.default
        func valid(_ dir: String) -> Bool { fm.fileExists(atPath: dir + "/gpu/init.lua") }
        if let env = ProcessInfo.processInfo.environment["GPUFLOW_STDLIB"] {
            guard valid(env) else { throw LuaError.file("GPUFLOW_STDLIB=\(env) does not hold gpu/init.lua") }
            return env
        }
        let exe = URL(fileURLWithPath: (try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
            .resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        var candidates = [
            dir.appendingPathComponent("stdlib").path,
            dir.deletingLastPathComponent().appendingPathComponent("share/gpuflow/stdlib").path,
        ]
        for _ in 0..<6 {
            dir.deleteLastPathComponent()
            candidates.append(dir.appendingPathComponent("stdlib").path)
        }
        if let found = candidates.first(where: valid) { return found }
        throw LuaError.file("cannot find gpuflow's stdlib (looked in \(candidates.joined(separator: ", "))); set GPUFLOW_STDLIB")
    }
}
