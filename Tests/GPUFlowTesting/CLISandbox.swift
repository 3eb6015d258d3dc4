import Foundation

/// A temporary directory of its own for end-to-end tests that record runs: scripts are written
/// there, `gpuflow` runs there, and its data directory (run store, history) lives there, so
/// tests never share a store. Suites add what they need on top in extensions.
public struct CLISandbox: Sendable {
    public let dir: URL
    public let env: [String: String]

    public init() throws {
        dir = try TestPaths.temporaryDirectory()
        env = ["GPUFLOW_DATA_DIR": dir.appendingPathComponent("data").path]
    }

    /// Writes `text` to `name` in the sandbox and returns its path.
    public func write(_ name: String, _ text: String) throws -> String {
        let p = dir.appendingPathComponent(name).path
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    /// Runs the gpuflow binary in the sandbox, with `extra` added to its environment.
    public func run(_ args: [String], extra: [String: String] = [:]) throws -> CLIRunner.Output {
        try CLIRunner.run(args, currentDirectory: dir.path, environment: env.merging(extra) { _, b in b })
    }
}
