import Foundation
import GPUFlowCore
import GPUFlowStore

/// Submits a cluster run's jobs in dependency order: writes each batch script into the run
/// directory, calls sbatch with `afterok` on the jobs of its prerequisites, and records every
/// job the moment Slurm accepts it, so a failure half-way loses nothing already submitted.
public struct SlurmSubmitter {
    public let commands: SlurmCommands
    public let settings: Profile.Cluster
    public let template: SbatchTemplate
    public let plan: ClusterPlan
    public let directory: RunDirectory

    public init(commands: SlurmCommands, settings: Profile.Cluster, template: SbatchTemplate, plan: ClusterPlan, directory: RunDirectory) {
        self.commands = commands
        self.settings = settings
        self.template = template
        self.plan = plan
        self.directory = directory
    }

    /// The most GPUs one node of the partition has, from sinfo ("gpu:2", "gpu:a100:4(S:0-1)").
    public func partitionGPUs() throws -> (partition: String, most: Int) {
        var args = ["-h", "-o", "%P|%G"]
        if let p = settings.partition { args += ["-p", p] }
        let out = try commands.run("sinfo", args)
        var most = 0
        var name = settings.partition
        var any = false
        for line in out.split(separator: "\n") {
            let f = line.split(separator: "|", omittingEmptySubsequences: false)
            guard f.count == 2 else { continue }
            let part = f[0].hasSuffix("*") ? String(f[0].dropLast()) : String(f[0])
            if settings.partition == nil {
                guard f[0].hasSuffix("*") else { continue }
                name = part
            }
            any = true
            most = max(most, Self.gpuCount(String(f[1])))
        }
        guard any, let name else {
            throw ClusterError.slurm(
                .unexpected(
                    command: "sinfo " + args.joined(separator: " "),
                    output: settings.partition.map { "no partition \($0)" } ?? "no default partition"))
        }
        return (name, most)
    }

    static func gpuCount(_ gres: String) -> Int {
        var n = 0
        for item in gres.split(separator: ",") {
            let word = item.split(separator: "(").first.map(String.init) ?? ""
            let parts = word.split(separator: ":")
            guard parts.first == "gpu", parts.count >= 2, let c = Int(parts[parts.count - 1]) else { continue }
            n += c
        }
        return n
    }

    /// Every stage's GPU request against the partition, before anything is submitted.
    public func checkResources() throws {
        let (partition, most) = try partitionGPUs()
        for s in plan.graph.stages {
            let asked = s.gpus ?? settings.gpusPerStage
            if asked > most {
                throw ClusterError.tooManyGPUs(stage: s.name, location: s.location, asked: asked, partition: partition, most: most)
            }
        }
    }

    /// The batch script of one job.
    public func script(for job: SlurmJobSpec) -> String {
        var ctx: [String: Any] = [
            "gpuflow_version": GPUFlowVersion.string, "run": plan.run, "stages": job.stages.joined(separator: " "),
            "job_name": "gpuflow-\(plan.run)-\(job.name)", "workdir": SbatchTemplate.quote(plan.workdir),
            "output": SbatchTemplate.quote(directory.logDirectory + "/\(job.name)-" + (job.isArray ? "%A_%a" : "%j") + ".out"),
            "options": settings.sbatchOptions,
        ]
        if let p = settings.partition { ctx["partition"] = p }
        if let a = settings.account { ctx["account"] = a }
        if let t = job.timeMinutes { ctx["time"] = SlurmTime.render(minutes: t) }
        if job.gpus > 0 { ctx["gres"] = "gpu:\(job.gpus)" }
        if let m = job.memoryMB { ctx["memory"] = "\(m)M" }
        if let c = job.cpus { ctx["cpus"] = String(c) }
        if let a = job.arraySpec { ctx["array"] = a }
        var words = [plan.gpuflow, "run", plan.script].map(SbatchTemplate.quote)
        if job.isArray && !job.isSweep {
            ctx["stage_list"] = job.stages.map(SbatchTemplate.quote).joined(separator: " ")
            words += ["--stage", "\"$STAGE\""]
        } else {
            words += ["--stage", SbatchTemplate.quote(job.stages[0])]
        }
        if job.isSweep { words += ["--index", "\"$SLURM_ARRAY_TASK_ID\""] }
        words += [
            "--run", SbatchTemplate.quote(plan.run), "--run-dir", SbatchTemplate.quote(directory.path),
            "--profile", SbatchTemplate.quote(directory.profilePath), "--seed", String(plan.seed), "--quiet",
        ]
        if let b = plan.backend { words += ["--backend", SbatchTemplate.quote(b)] }
        if !plan.arguments.isEmpty { words += ["--"] + plan.arguments.map(SbatchTemplate.quote) }
        ctx["command"] = words.joined(separator: " ")
        return template.render(ctx)
    }

    /// `afterok:` on the jobs this one waits for: `refs` maps each element already submitted
    /// (now or earlier, still able to run) to its Slurm id; finished elements are absent.
    public func dependency(for job: SlurmJobSpec, refs: [String: String]) -> String? {
        var ids: [String] = []
        for p in job.prerequisites {
            guard let s = plan.graph[p] else { continue }
            for e in s.elementNames { if let r = refs[e], !ids.contains(r) { ids.append(r) } }
        }
        return ids.isEmpty ? nil : "afterok:" + ids.joined(separator: ":")
    }

    public struct Outcome {
        public var submitted: [RunStore.ClusterJob] = []
        /// The job that sbatch refused, and why; the ones before it stay submitted.
        public var failure: (job: String, error: Error)?
    }

    /// Submits `jobs` in order; `record` is called with each accepted job's elements at once.
    public func submit(_ jobs: [SlurmJobSpec], refs initial: [String: String], record: ([RunStore.ClusterJob]) throws -> Void) -> Outcome {
        var refs = initial
        var out = Outcome()
        for job in jobs {
            let path = directory.batchScriptPath(job.name)
            do {
                try directory.write(script(for: job), to: path)
                let id = try commands.submit(script: path, dependency: dependency(for: job, refs: refs))
                let now = Date().timeIntervalSince1970
                let rows = job.elements.map { e -> RunStore.ClusterJob in
                    let row = RunStore.ClusterJob(stage: e.element, jobID: id, arrayIndex: e.index, submittedAt: now, state: "submitted")
                    refs[e.element] = row.slurmID
                    return row
                }
                try record(rows)
                out.submitted += rows
            } catch {
                out.failure = (job.name, error)
                return out
            }
        }
        return out
    }
}
