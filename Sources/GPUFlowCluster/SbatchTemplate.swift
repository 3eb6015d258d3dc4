import Foundation
import Mustache

/// The batch script of one Slurm job, from a Mustache template: the built-in one below, or the
/// profile's `cluster.template`. Values arrive already shell-quoted where they are words of a
/// command, and every tag is a triple mustache (no HTML escaping in a shell script).
///
/// Context keys: job_name, run, stages (names, space-separated), partition, account, time, gres,
/// memory, cpus, array, output, options (list), workdir, stage_list (bash array words, grouped
/// stages only), command, gpuflow_version.
public struct SbatchTemplate: Sendable {
    public static let builtIn = """
        #!/bin/bash
        # gpuflow {{{gpuflow_version}}}: run {{{run}}}, stage(s) {{{stages}}}
        #SBATCH --job-name={{{job_name}}}
        {{#partition}}
        #SBATCH --partition={{{partition}}}
        {{/partition}}
        {{#account}}
        #SBATCH --account={{{account}}}
        {{/account}}
        {{#time}}
        #SBATCH --time={{{time}}}
        {{/time}}
        {{#gres}}
        #SBATCH --gres={{{gres}}}
        {{/gres}}
        {{#memory}}
        #SBATCH --mem={{{memory}}}
        {{/memory}}
        {{#cpus}}
        #SBATCH --cpus-per-task={{{cpus}}}
        {{/cpus}}
        {{#array}}
        #SBATCH --array={{{array}}}
        {{/array}}
        #SBATCH --output={{{output}}}
        #SBATCH --kill-on-invalid-dep=yes
        {{#options}}
        #SBATCH {{{.}}}
        {{/options}}
        # Dependencies (afterok on the jobs of this stage's inputs) are given to sbatch on its
        # command line: job ids are known only as the run is submitted.
        set -euo pipefail
        cd {{{workdir}}}
        {{#stage_list}}
        STAGES=({{{stage_list}}})
        STAGE="${STAGES[$((SLURM_ARRAY_TASK_ID - 1))]}"
        {{/stage_list}}
        exec {{{command}}}

        """

    let template: MustacheTemplate
    public let source: String

    public init(file: String?) throws {
        if let file {
            guard let d = FileManager.default.contents(atPath: file) else {
                throw ClusterError.template(file: file, detail: "cannot be read")
            }
            do { template = try MustacheTemplate(string: String(decoding: d, as: UTF8.self)) } catch {
                throw ClusterError.template(file: file, detail: "is not a valid Mustache template (\(error))")
            }
            source = file
        } else {
            template = try MustacheTemplate(string: Self.builtIn)
            source = "built-in"
        }
    }

    public func render(_ context: [String: Any]) -> String { template.render(context) }

    /// One word for bash, single-quoted unless it needs no quoting.
    public static func quote(_ s: String) -> String {
        if !s.isEmpty, s.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_-./:=@%+,".contains($0)) }) { return s }
        return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
