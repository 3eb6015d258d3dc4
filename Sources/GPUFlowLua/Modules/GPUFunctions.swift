import CLua
import CLuaShim
import GPUFlowCore
import GPUFlowML

/// Submission, status, cancellation and feedback: thin bindings that check their arguments
/// and hand everything to the orchestrator.
enum GPUFunctions {
    static let functions: [(String, gf_swift_fn)] = [
        ("submit", { L in LuaBinding.call(L) { L, job in try submit(L, job) } }),
        ("submit_graph", { L in LuaBinding.call(L) { L, job in try submitGraph(L, job) } }),
        ("status", { L in LuaBinding.call(L) { L, job in try status(L, job) } }),
        (
            "cancel",
            { L in
                LuaBinding.call(L) { L, job in
                    let id = try ownTask(try taskID(L, 1, "gpu.cancel"), job, "gpu.cancel")
                    let orchestrator = job.env.orchestrator
                    lua_pushboolean(L, try job.host.blocking { await orchestrator.cancel(id) } ? 1 : 0)
                    return 1
                }
            }
        ),
        ("optimize_scheduling", { L in LuaBinding.call(L) { L, job in try optimizeScheduling(L, job) } }),
        (
            "insights",
            { L in
                LuaBinding.call(L) { L, job in
                    let orchestrator = job.env.orchestrator
                    let list = try job.host.blocking { await orchestrator.insights() }
                    LuaStack.push(
                        L,
                        .array(
                            list.map {
                                .table([
                                    ("category", .string($0.category)), ("confidence", .number($0.confidence)),
                                    ("description", .string($0.description)),
                                ])
                            }))
                    return 1
                }
            }
        ),
        (
            "seed",
            { L in
                LuaBinding.call(L) { L, job in
                    lua_pushinteger(L, lua_Integer(bitPattern: UInt64(job.env.seed)))
                    return 1
                }
            }
        ),
        (
            "backend",
            { L in
                LuaBinding.call(L) { L, job in
                    LuaStack.push(
                        L,
                        .table([
                            ("name", .string(job.env.backendName)), ("requested", .string(job.env.backend.rawValue)),
                            ("reason", .string(job.env.backendReason)),
                        ]))
                    return 1
                }
            }
        ),
        (
            "write",
            { L in
                LuaBinding.call(L) { L, job in
                    guard let s = LuaStack.string(L, 1) else { throw LuaArgumentError("write: expected a string") }
                    try job.chargeOutput(s.utf8.count)
                    job.env.output(s)
                    return 0
                }
            }
        ),
        ("metrics_snapshot", { L in LuaBinding.call(L) { L, job in try metricsSnapshot(L, job) } }),
        (
            "metrics_prometheus",
            { L in
                LuaBinding.call(L) { L, job in
                    LuaStack.push(L, .string(PrometheusExport.text(job.env.monitor, breakers: job.env.orchestrator.breakers)))
                    return 1
                }
            }
        ),
    ]

    static func taskID(_ L: OpaquePointer, _ idx: Int32, _ fn: String) throws -> TaskID {
        var ok: Int32 = 0
        let v = lua_tointegerx(L, idx, &ok)
        guard ok != 0, lua_type(L, idx) == LUA_TNUMBER, v > 0 else {
            throw LuaArgumentError("\(fn): expected a task handle, got \(LuaStack.typeName(L, idx))")
        }
        return TaskID(v)
    }

    /// In the sandbox a script may query, cancel, depend on or rate only the tasks it submitted:
    /// the ids of the run's other agents' tasks are not its to use.
    static func ownTask(_ id: TaskID, _ job: LuaJob, _ fn: String) throws -> TaskID {
        guard job.sandbox.enabled, !job.tasks.contains(id) else { return id }
        throw LuaArgumentError("\(fn): no task #\(id) was submitted by this script")
    }

    /// Builds the orchestrator's spec for a task descriptor or a Lua function at `idx`.
    /// Every way of submitting a task comes through here, so this is where tasks are counted
    /// against the sandbox's max_tasks (a graph of 5,000 nodes is 5,000 tasks).
    private static func spec(
        _ L: OpaquePointer, _ job: LuaJob, _ idx: Int32, options o: SubmitOptions,
        dependencies: [TaskID], fn: String
    ) throws -> (TaskSpec, Int32?) {
        try job.chargeTask()
        for d in dependencies { _ = try ownTask(d, job, fn) }
        if job.sandbox.enabled, let d: TaskDescriptor = LuaObjects.object(L, idx), case .resourceCoordination = d.type {
            throw LuaArgumentError("\(fn): sandbox: the coordination of a run is set by its profile, not by a script")
        }
        if job.sandbox.enabled, let other = o.agent, other != job.request.agent {
            throw LuaArgumentError("\(fn): sandbox: a task cannot be submitted as another agent ('\(other)')")
        }
        if lua_type(L, idx) == LUA_TFUNCTION {
            lua_pushvalue(L, idx)
            let ref = luaL_ref(L, gf_registryindex())
            let host = job.host
            let spec = TaskSpec(
                name: o.name ?? "function", kind: .plain, priority: o.priority ?? .normal, boost: o.boost ?? 0,
                dependencies: dependencies, memoryMB: o.memoryMB ?? 0, timeoutS: job.cappedTimeout(o.timeoutS),
                agent: o.agent ?? job.request.agent,
                work: { ctx in
                    // A task cancelled before the host got to it must not start at all.
                    let token = CancellationToken()
                    return try await withTaskCancellationHandler {
                        try await withCheckedThrowingContinuation { c in
                            host.post(.startTask(job, function: ref, arguments: ctx.dependencyResults, id: ctx.id, token, c))
                        }
                    } onCancel: {
                        token.cancel()
                    }
                })
            return (spec, ref)
        }
        guard let d: TaskDescriptor = LuaObjects.object(L, idx) else {
            throw LuaArgumentError("\(fn): expected a task (gpu.training{...} etc.) or a function, got \(LuaStack.typeName(L, idx))")
        }
        var m = o.merged(over: d.options)
        m.timeoutS = job.cappedTimeout(m.timeoutS)
        if job.sandbox.enabled, let other = m.agent, other != job.request.agent {
            throw LuaArgumentError("\(fn): sandbox: a task cannot be submitted as another agent ('\(other)')")
        }
        var type = d.type
        // Files a task reads or writes were checked where the task was made (gpu.training).
        // A transfer's base model was loaded there too; its name is resolved for the record.
        if case .training(var t) = type, case .transfer(var tl) = t.algorithm, d.inputs.model == nil {
            tl.baseModel = try job.allowedPath(tl.baseModel, write: false, what: "base_model")
            t.algorithm = .transfer(tl)
            type = .training(t)
        }
        // A batch size fed back for this model replaces the built-in default (never a given one).
        if case .inference(var t) = type, t.batchSizeSource == "default", let model = d.inputs.model,
            let b = job.env.orchestrator.learning.learnedBatchSize(kind: "inference", model: WorkloadShapes.modelSignature(model))
        {
            t.batchSize = b
            t.batchSizeSource = "learned"
            type = .inference(t)
        }
        let work = TaskWorkFactory.work(
            for: type, inputs: d.inputs, backend: job.env.backend,
            device: job.env.device, seed: job.nextSeed(),
            orchestrator: job.env.orchestrator, services: job.env.services, agent: m.agent ?? job.request.agent,
            memoryMB: m.memoryMB)
        var spec = TaskSpec(
            name: m.name ?? job.stageName ?? d.type.name, kind: .gpu(type), priority: m.priority ?? .normal, boost: m.boost ?? 0,
            dependencies: dependencies, memoryMB: m.memoryMB, timeoutS: m.timeoutS,
            agent: m.agent ?? job.request.agent, work: work)
        if job.sandbox.enabled {
            // The workload's own allocations, charged now and given back when the task ends.
            let cost = TaskCost.bytes(type, d.inputs), account = job.lua.account
            guard account.charge(cost) else {
                gf_trip(L, Int32(GF_TRIP_MEMORY.rawValue))
                throw LuaArgumentError(
                    "\(fn): sandbox: the task would need about \(cost) bytes of host memory, over what is left of the budget: memory limit exceeded"
                )
            }
            let charge = TaskCharge(account, cost), inner = spec.work
            spec.work = { ctx in
                defer { charge.release() }
                return try await inner(ctx)
            }
            job.lastCharge = charge
        }
        spec.workload = WorkloadShapes.shape(type, inputs: d.inputs)
        return (spec, nil)
    }

    /// gpu.submit(task_or_function, {after = {ids}, name, priority, boost, memory_mb, timeout_s, agent}) → id, name
    private static func submit(_ L: OpaquePointer, _ job: LuaJob) throws -> Int32 {
        let a = try LuaArgs(L, 2, function: "gpu.submit", optional: true)
        let after = try a.intList("after", min: 1) ?? []
        let o = try SubmitOptions.read(a)
        try a.finish()
        let (spec, ref) = try spec(L, job, 1, options: o, dependencies: after, fn: "gpu.submit")
        let charge = job.lastCharge
        job.lastCharge = nil
        do {
            let id = try job.host.enqueue(job, spec)
            if let charge { job.charges[id] = charge }
            lua_pushinteger(L, lua_Integer(id))
            LuaStack.push(L, spec.name)
            return 2
        } catch {
            if let ref { luaL_unref(L, gf_registryindex(), ref) }
            charge?.release()
            throw LuaArgumentError("gpu.submit: \(error)")
        }
    }

    /// gpu.submit_graph{ {key = "a", task = ..., after = {"b"}}, ... } → {a = id, ...}
    private static func submitGraph(_ L: OpaquePointer, _ job: LuaJob) throws -> Int32 {
        guard lua_type(L, 1) == LUA_TTABLE else {
            throw LuaArgumentError("gpu.submit_graph: expected a list of {key = ..., task = ..., after = {...}}")
        }
        let n = Int(lua_rawlen(L, 1))
        guard n > 0 else { throw LuaArgumentError("gpu.submit_graph: the graph is empty") }
        var nodes: [GPUTaskOrchestrator.GraphNode] = []
        var refs: [Int32] = []
        var graphCharges: [String: TaskCharge] = [:]
        defer { job.lastCharge = nil }
        do {
            for i in 1...n {
                lua_rawgeti(L, 1, lua_Integer(i))
                let a = try LuaArgs(L, -1, function: "gpu.submit_graph[\(i)]")
                guard let key = try a.string("key") else { throw LuaArgumentError("gpu.submit_graph[\(i)]: key is required") }
                let after = try a.stringList("after") ?? []
                var o = try SubmitOptions.read(a)
                if o.name == nil { o.name = key }
                a.pushField("task")
                let (spec, ref) = try spec(
                    L, job, lua_gettop(L), options: o, dependencies: try a.intList("after_ids", min: 1) ?? [],
                    fn: "gpu.submit_graph[\(i)].task")
                gf_pop(L, 1)
                if let ref { refs.append(ref) }
                if let c = job.lastCharge { graphCharges[key] = c }
                job.lastCharge = nil
                try a.finish()
                gf_pop(L, 1)
                nodes.append(.init(key: key, spec: spec, after: after))
            }
        } catch {
            for r in refs { luaL_unref(L, gf_registryindex(), r) }
            for c in graphCharges.values { c.release() }
            throw error
        }
        let orchestrator = job.env.orchestrator
        let ids: [String: TaskID]
        let graph = nodes
        do {
            ids = try job.host.blocking { try await orchestrator.submitGraph(graph) }
        } catch {
            for r in refs { luaL_unref(L, gf_registryindex(), r) }
            for c in graphCharges.values { c.release() }
            throw LuaArgumentError("gpu.submit_graph: \(error)")
        }
        lua_createtable(L, 0, Int32(ids.count))
        for node in nodes {
            guard let id = ids[node.key] else { continue }
            if let c = graphCharges[node.key] { job.charges[id] = c }
            job.host.watch(job, id, name: node.spec.name)
            lua_pushinteger(L, lua_Integer(id))
            lua_setfield(L, -2, node.key)
        }
        return 1
    }

    private static func status(_ L: OpaquePointer, _ job: LuaJob) throws -> Int32 {
        let id = try ownTask(try taskID(L, 1, "gpu.status"), job, "gpu.status")
        let orchestrator = job.env.orchestrator
        guard let r = try job.host.blocking({ await orchestrator.status(id) }) else {
            throw LuaArgumentError("gpu.status: unknown task #\(id)")
        }
        LuaStack.push(L, recordValue(r))
        return 1
    }

    static func recordValue(_ r: TaskRecord) -> TaskValue {
        var f: [(String, TaskValue)] = [
            ("id", .integer(r.id)), ("name", .string(r.name)), ("type", .string(r.typeName)),
            ("state", .string(r.state.rawValue)), ("priority", .string(r.priority.rawValue)),
            ("memory_mb", .integer(r.memoryMB)), ("memory_source", .string(r.memorySource)),
        ]
        if let a = r.agent { f.append(("agent", .string(a))) }
        f.append(("submitted_at", .number(r.submittedAt)))
        if let t = r.startedAt { f.append(("started_at", .number(t))) }
        if let t = r.finishedAt { f.append(("finished_at", .number(t))) }
        if let w = r.waitSeconds { f.append(("wait_s", .number(w))) }
        if let s = r.runSeconds { f.append(("run_s", .number(s))) }
        if let e = r.durationEstimateS { f.append(("duration_estimate_s", .number(e))) }
        if let fail = r.failure { f.append(("error", .string(fail.description))) }
        return .table(f)
    }

    /// gpu.optimize_scheduling{{task_id = 3, satisfaction = 0.8, suggestions = {...}, actual = {duration_s = 2},
    /// expected = {duration_s = 1}}, ...} → {[type] = boost, changes = {"...", ...}}
    private static func optimizeScheduling(_ L: OpaquePointer, _ job: LuaJob) throws -> Int32 {
        guard lua_type(L, 1) == LUA_TTABLE else {
            throw LuaArgumentError("gpu.optimize_scheduling: expected a list of {task = ..., satisfaction = 0..1, suggestions = {...}}")
        }
        var entries: [(TaskID, Double, [String], Double?)] = []
        let count = Int(lua_rawlen(L, 1))
        for i in stride(from: 1, through: count, by: 1) {
            lua_rawgeti(L, 1, lua_Integer(i))
            let fn = "gpu.optimize_scheduling[\(i)]"
            let a = try LuaArgs(L, -1, function: fn)
            guard let id = try a.int("task_id", min: 1).map({ try ownTask(TaskID($0), job, fn) }) else {
                throw LuaArgumentError("\(fn): task is required (a handle or an awaited result)")
            }
            guard let s = try a.double("satisfaction", min: 0, max: 1) else {
                throw LuaArgumentError("\(fn): satisfaction is required (0..1)")
            }
            let sug = try a.stringList("suggestions") ?? []
            // Kept by the learning engine: bounded like any input it holds on to.
            guard sug.count <= 32, sug.allSatisfy({ $0.utf8.count <= 1024 }) else {
                throw LuaArgumentError("\(fn): suggestions are at most 32 strings of at most 1024 bytes")
            }
            let actual = try a.table("actual") { t in try t.double("duration_s", min: 0, exclusiveMin: true) } ?? nil
            let expected = try a.table("expected") { t in try t.double("duration_s", min: 0, exclusiveMin: true) } ?? nil
            if (actual == nil) != (expected == nil) {
                throw LuaArgumentError("\(fn): actual and expected go together (each {duration_s = seconds})")
            }
            try a.finish()
            gf_pop(L, 1)
            entries.append((id, s, sug, zip(actual, expected)))
        }
        let orchestrator = job.env.orchestrator
        let learning = orchestrator.learning
        // The learning engine is the run's (and, through its history, later runs'): a sandboxed
        // script's suggestions and duration ratios would steer other agents' batch sizes and
        // backends, so in the sandbox only its satisfaction is recorded.
        let sandboxed = job.sandbox.enabled
        let feedback = sandboxed ? entries.map { ($0.0, $0.1, [String](), Double?.none) } : entries
        let (boosts, kinds) = try job.host.blocking { () async throws -> ([(String, Int)], [String]) in
            var types: [String] = [], kinds: [String] = []
            for (id, s, sug, ratio) in feedback {
                try await orchestrator.feedback(id, satisfaction: s, suggestions: sug, durationRatio: ratio)
                if let r = await orchestrator.status(id), !types.contains(r.typeName) { types.append(r.typeName) }
                if let k = await orchestrator.workloadKind(id), !kinds.contains(k) { kinds.append(k) }
            }
            var out: [(String, Int)] = []
            for t in types { out.append((t, await orchestrator.learningBoost(for: t))) }
            return (out, kinds)
        }
        // What the judgements changed, in words a user can check against the next run.
        var changes: [TaskValue] = []
        for k in kinds {
            for b in ["cpu", "simd", "vulkan"] {
                let c = learning.correction(kind: k, backend: b)
                if c != 1 { changes.append(.string(String(format: "%@ on %@: duration predictions ×%.2f", k, b, c))) }
            }
            for (b, v) in learning.backendBias(kind: k).sorted(by: { $0.key < $1.key }) {
                changes.append(.string(String(format: "%@: adaptive backend score of %@ %+.2f", k, b, v)))
            }
        }
        if sandboxed, entries.contains(where: { !$0.2.isEmpty || $0.3 != nil }) {
            changes.append(
                .string("sandbox: suggestions and actual/expected durations are not applied (they would change other agents' scheduling)"))
        }
        LuaStack.push(L, .table(boosts.map { ($0.0, .integer($0.1)) } + [("changes", .array(changes))]))
        return 1
    }

    private static func zip(_ actual: Double?, _ expected: Double?) -> Double? {
        guard let actual, let expected else { return nil }
        return actual / expected
    }

    private static func metricsSnapshot(_ L: OpaquePointer, _ job: LuaJob) throws -> Int32 {
        var snapshot = try RunMetrics.collect(job.env, blocking: { body in try job.host.blocking(body) })
        // A sandboxed script sees its own tasks only, not those of the run's other agents.
        if job.sandbox.enabled, case .table(let pairs) = snapshot {
            snapshot = .table(
                pairs.map { key, value in
                    guard ["tasks", "task_metrics"].contains(key), case .array(let items) = value else { return (key, value) }
                    return (
                        key,
                        .array(
                            items.filter { item in
                                guard case .table(let fields) = item, let id = fields.first(where: { $0.0 == "id" })?.1,
                                    case .integer(let n) = id
                                else { return false }
                                return job.tasks.contains(TaskID(n))
                            })
                    )
                })
        }
        LuaStack.push(L, snapshot)
        return 1
    }
}
