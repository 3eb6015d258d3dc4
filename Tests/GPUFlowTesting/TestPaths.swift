import Foundation

/// Locations tests need, found from this file's place in the source tree so tests do not
/// depend on the current directory.
public enum TestPaths {
    /// The repository root (the folder holding Package.swift).
    public static let repository: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }()

    /// ../shared/data, the real CSV data sets beside the checkout.
    public static var sharedData: URL { repository.deletingLastPathComponent().appendingPathComponent("shared/data") }

    public static func sharedData(_ name: String) -> String { sharedData.appendingPathComponent(name).path }

    /// A fresh temporary directory for one test.
    public static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("gpuflow-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Writes `text` to a new file in a fresh temporary directory and returns its path.
    public static func write(_ text: String, name: String) throws -> String {
        let url = try temporaryDirectory().appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }
}
