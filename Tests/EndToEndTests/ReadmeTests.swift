import Foundation
import GPUFlowTesting
import Testing

/// The README's Lua snippets are documentation users copy: each must run as written.
@Suite struct ReadmeTests {
    static func snippets() throws -> [String] {
        let text = try String(contentsOf: TestPaths.repository.appendingPathComponent("README.md"), encoding: .utf8)
        var out: [String] = []
        var current: [Substring]?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil, line == "```lua" {
                current = []
            } else if current != nil, line == "```" {
                out.append(current!.joined(separator: "\n"))
                current = nil
            } else {
                current?.append(line)
            }
        }
        return out
    }

    @Test func everyLuaSnippetRuns() throws {
        let snippets = try Self.snippets()
        #expect(snippets.count >= 3)
        for (i, s) in snippets.enumerated() {
            let path = try TestPaths.write(s, name: "readme\(i + 1).lua")
            let out = try CLIRunner.run(["run", path])
            #expect(out.status == 0, "README snippet \(i + 1) failed: \(out.stderr)")
            #expect(!out.stdout.isEmpty)
        }
    }
}
