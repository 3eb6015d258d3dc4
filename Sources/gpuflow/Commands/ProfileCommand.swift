import ArgumentParser
import Foundation
import GPUFlowCore

struct ProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile", abstract: "Work with YAML resource profiles.", subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Validate a profile and print it resolved (defaults filled in).",
            discussion: "Errors are printed as FILE:LINE:COL: message and exit with 2.")

        @Argument(help: "The profile to check.")
        var file: String

        func run() throws {
            do {
                let profile = try ProfileLoader.load(path: file)
                print("# \(file): ok", terminator: "\n")
                print(ProfileRenderer.yaml(profile), terminator: "")
            } catch {
                fail("\(error)", code: ExitStatus.badInput)
            }
        }
    }
}
