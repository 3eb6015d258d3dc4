import Foundation

/// Runs the built `gpuflow` binary the way a user would, for end-to-end tests.
public enum CLIRunner {
    public struct Output: Sendable {
        public let status: Int32
        public let stdout: String
        public let stderr: String
        /// True when the process was ended by a signal (then `status` is the signal's number).
        public var signalled = false
        /// Seconds from start to exit.
        public var seconds = 0.0
        /// The first line of stderr: where DESIGN.md puts the one clear error line.
        public var firstErrorLine: String { stderr.split(separator: "\n").first.map(String.init) ?? "" }
    }

    /// The gpuflow binary built beside the test bundle (same build configuration).
    public static var binary: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("gpuflow").path
    }

    /// A learning-history directory for this test process, so runs never write to the user's.
    public static let dataDirectory: String = (try? TestPaths.temporaryDirectory().path) ?? NSTemporaryDirectory()

    public static func run(_ arguments: [String], currentDirectory: String? = nil, environment: [String: String] = [:]) throws -> Output {
        let p = Process()
        p.environment = ProcessInfo.processInfo.environment.merging(["GPUFLOW_DATA_DIR": dataDirectory]) { _, new in new }
            .merging(environment) { _, new in new }
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = arguments
        p.currentDirectoryURL = URL(fileURLWithPath: currentDirectory ?? TestPaths.repository.path)
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        let started = Date()
        try p.run()
        // Read both pipes to the end before waiting, so a chatty child cannot block on a full pipe.
        let group = DispatchGroup()
        nonisolated(unsafe) var outData = Data(), errData = Data()
        group.enter()
        DispatchQueue.global().async {
            outData = out.fileHandleForReading.readDataToEndOfFile(); group.leave()
        }
        errData = err.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        var output = Output(
            status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self))
        output.signalled = p.terminationReason == .uncaughtSignal
        output.seconds = Date().timeIntervalSince(started)
        return output
    }
}
