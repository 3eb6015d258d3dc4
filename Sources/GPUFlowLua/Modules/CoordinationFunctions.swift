import CLua
import CLuaShim
import Foundation
import GPUFlowCore
import GPUFlowML

/// Agents sharing the device from Lua: leases, the decision log, per-agent metrics, and the
/// bounded channels pipelines are made of (their put/get are awaited like tasks).
enum CoordinationFunctions {
    static let functions: [(String, gf_swift_fn)] = [
        (
            "release_device",
            { L in
                LuaBinding.call(L) { L, job in
                    let agent = job.request.agent ?? "-"
                    let orchestrator = job.env.orchestrator
                    lua_pushboolean(L, try job.host.blocking { await orchestrator.releaseLease(agent: agent) } ? 1 : 0)
                    return 1
                }
            }
        ),
        (
            "coordination_log",
            { L in
                LuaBinding.call(L) { L, job in
                    let orchestrator = job.env.orchestrator
                    let log = try job.host.blocking { await orchestrator.coordinationDecisions() }
                    LuaStack.push(
                        L,
                        .array(
                            log.map { d in
                                var f: [(String, TaskValue)] = [
                                    ("at", .number(d.at)), ("pattern", .string(d.pattern)), ("kind", .string(d.kind)),
                                    ("agents", .array(d.agents.map { .string($0) })), ("reason", .string(d.reason)),
                                ]
                                if let w = d.winner { f.append(("winner", .string(w))) }
                                return .table(f)
                            }))
                    return 1
                }
            }
        ),
        ("agent_metrics", { L in LuaBinding.call(L) { L, job in try agentMetrics(L, job) } }),
        (
            "time_slices",
            { L in
                LuaBinding.call(L) { L, job in
                    LuaStack.push(
                        L,
                        .array(
                            job.env.orchestrator.gate.achievedSlices().map { s in
                                .table([
                                    ("agent", .string(s.agent)), ("start", .number(s.start)), ("seconds", .number(s.seconds)),
                                    ("contested", .bool(s.contested)),
                                ])
                            }))
                    return 1
                }
            }
        ),
        (
            "sandbox_trip",
            { L in
                LuaBinding.call(L) { L, _ in
                    let kinds: [String: gf_trip] = [
                        "memory": GF_TRIP_MEMORY, "instructions": GF_TRIP_INSTRUCTIONS, "output": GF_TRIP_OUTPUT,
                    ]
                    gf_trip(L, Int32((kinds[LuaStack.string(L, 1) ?? ""] ?? GF_TRIP_MEMORY).rawValue))
                    return 0
                }
            }
        ),
        (
            "now",
            { L in
                LuaBinding.call(L) { L, _ in
                    lua_pushnumber(L, Double(DispatchTime.now().uptimeNanoseconds) / 1e9)
                    return 1
                }
            }
        ),
        (
            "channel_open",
            { L in
                LuaBinding.call(L) { L, job in
                    guard var name = LuaStack.string(L, 1), !name.isEmpty else {
                        throw LuaArgumentError("gpu.channel: name must be a non-empty string")
                    }
                    // Names are kept for the run: bounded. In the sandbox a script's own channels
                    // are its agent's (AGENT/NAME); a pipeline's links come from gpu.stage.
                    guard name.utf8.count <= 256 else {
                        throw LuaArgumentError("gpu.channel: name is \(name.utf8.count) bytes, at most 256")
                    }
                    if job.sandbox.enabled, !isLinkOf(job, name) { name = "\(job.request.agent ?? "-")/\(name)" }
                    let scoped = name
                    var ok: Int32 = 0
                    let absent = lua_type(L, 2) <= LUA_TNIL
                    let capacity = absent ? 4 : Int(lua_tointegerx(L, 2, &ok))
                    guard absent || (ok != 0 && capacity >= 1 && capacity <= 1_000_000) else {
                        throw LuaArgumentError("gpu.channel: capacity must be an integer between 1 and 1000000")
                    }
                    let channels = job.env.channels
                    let c = try job.host.blocking { await channels.channel(scoped, capacity: capacity) }
                    LuaStack.push(L, .table([("name", .string(c.name)), ("capacity", .integer(c.capacity))]))
                    return 1
                }
            }
        ),
        (
            "channel_put",
            { L in
                LuaBinding.call(L) { L, job in
                    let c = try channel(L, job, "put")
                    let value = try LuaStack.read(L, 2, what: "channel '\(c.name)' put")
                    // The item is held by the channel until someone takes it: charged to the putter
                    // until then, so a channel cannot hold more than the putter's budget.
                    let bytes = MemoryAccount.bytes(of: value), account = job.lua.account
                    guard account.charge(bytes) else {
                        gf_trip(L, Int32(GF_TRIP_MEMORY.rawValue))
                        throw LuaArgumentError(
                            "channel '\(c.name)' put: the item's \(bytes) bytes are over what is left of the budget: memory limit exceeded")
                    }
                    job.producedChannels.insert(c.name)
                    lua_pushinteger(
                        L,
                        lua_Integer(
                            job.host.external(job, name: "put to \(c.name)") {
                                try await c.put(value, release: { account.release(bytes) })
                                return .bool(true)
                            }))
                    return 1
                }
            }
        ),
        (
            "channel_get",
            { L in
                LuaBinding.call(L) { L, job in
                    let c = try channel(L, job, "get")
                    lua_pushinteger(L, lua_Integer(job.host.external(job, name: "get from \(c.name)") { await c.get() ?? .null }))
                    return 1
                }
            }
        ),
        (
            "channel_close",
            { L in
                LuaBinding.call(L) { L, job in
                    let c = try channel(L, job, "close")
                    try job.host.blocking { await c.close() }
                    return 0
                }
            }
        ),
        (
            "channel_stats",
            { L in
                LuaBinding.call(L) { L, job in
                    let c = try channel(L, job, "stats")
                    let (s, n) = try job.host.blocking { (await c.statistics(), await c.count) }
                    LuaStack.push(
                        L,
                        .table([
                            ("name", .string(c.name)), ("capacity", .integer(c.capacity)), ("count", .integer(n)),
                            ("puts", .integer(s.puts)), ("gets", .integer(s.gets)), ("peak_occupancy", .integer(s.peakOccupancy)),
                            ("producer_wait_s", .number(s.producerWaitS)), ("consumer_wait_s", .number(s.consumerWaitS)),
                            ("closed", .bool(s.closed)),
                        ]))
                    return 1
                }
            }
        ),
        (
            "stage",
            { L in
                LuaBinding.call(L) { L, job in
                    let orchestrator = job.env.orchestrator
                    let c = try job.host.blocking { await orchestrator.currentCoordination() }
                    guard case .pipeline(let pipeline) = c.spec else {
                        throw LuaArgumentError(
                            "gpu.stage: no pipeline is in force (gpu.coordinate{pattern = gpu.pipeline{stages = {...}}})")
                    }
                    let stages = pipeline.stages
                    let agent = job.request.agent ?? "-"
                    guard let k = stages.firstIndex(of: agent) else {
                        throw LuaArgumentError(
                            "gpu.stage: agent '\(agent)' is not a stage of the pipeline (\(stages.joined(separator: " → ")))")
                    }
                    var fields: [(String, TaskValue)] = [
                        ("name", .string(agent)), ("index", .integer(k + 1)), ("stages", .integer(stages.count)),
                    ]
                    let links = pipeline.links
                    let channels = job.env.channels
                    for (key, link) in [("input", k - 1), ("output", k)] where links.indices.contains(link) {
                        let (name, capacity) = links[link]
                        _ = try job.host.blocking { await channels.channel(name, capacity: capacity) }
                        fields.append((key, .string(name)))
                    }
                    LuaStack.push(L, .table(fields))
                    return 1
                }
            }
        ),
    ]

    static func linkName(_ stages: [String], _ k: Int) -> String { "\(stages[k])->\(stages[k + 1])" }

    /// Whether `name` is a pipeline link ("a->b") with this script's agent at one end.
    static func isLinkOf(_ job: LuaJob, _ name: String) -> Bool {
        let ends = name.components(separatedBy: "->")
        return ends.count == 2 && ends.contains(job.request.agent ?? "-")
    }

    private static func channel(_ L: OpaquePointer, _ job: LuaJob, _ op: String) throws -> BoundedChannel {
        guard let name = LuaStack.string(L, 1) else { throw LuaArgumentError("channel \(op): expected a channel") }
        // In the sandbox: the agent's own channels, and a pipeline link only in its direction
        // (the producer puts and closes, the consumer gets): no agent reads, forges or closes
        // another's items.
        if job.sandbox.enabled {
            let agent = job.request.agent ?? "-", ends = name.components(separatedBy: "->")
            let own = name.hasPrefix(agent + "/")
            let producer = ends.count == 2 && ends[0] == agent, consumer = ends.count == 2 && ends[1] == agent
            let allowed = own || (op == "get" ? consumer : op == "stats" ? producer || consumer : producer)
            guard allowed else { throw LuaArgumentError("channel \(op): sandbox: channel '\(name)' is not this agent's to \(op)") }
        }
        let channels = job.env.channels
        guard let c = try job.host.blocking({ await channels.existing(name) }) else {
            throw LuaArgumentError("\(ChannelError.unknown(name))")
        }
        return c
    }

    /// Per agent: tasks and their states, waits, run and step time, GPU time from the monitor,
    /// reserved and allocated memory high-water marks, refused allocations.
    private static func agentMetrics(_ L: OpaquePointer, _ job: LuaJob) throws -> Int32 {
        let orchestrator = job.env.orchestrator
        let list = try job.host.blocking { await orchestrator.agentMetrics() }
        var gpu: [String: Double] = [:]
        for t in job.env.monitor.taskMetrics() { if let a = t.agent, let g = t.gpuS { gpu[a, default: 0] += g } }
        let quotas = Dictionary(uniqueKeysWithValues: job.env.quotas.all().map { ($0.owner, $0) })
        var out: [(String, TaskValue)] = []
        for m in list {
            var f: [(String, TaskValue)] = [
                ("tasks", .integer(m.tasks)), ("states", .table(m.states.sorted { $0.key < $1.key }.map { ($0.key, .integer($0.value)) })),
                ("wait_p50_s", .number(m.waits.isEmpty ? 0 : m.waits[m.waits.count / 2])), ("wait_max_s", .number(m.waits.last ?? 0)),
                ("run_s", .number(m.runSeconds)), ("step_s", .number(m.stepSeconds)), ("longest_step_wait_s", .number(m.longestStepWaitS)),
                ("peak_reserved_mb", .integer(m.peakReservedMB)),
                ("gpu_s", gpu[m.agent].map { .number($0) } ?? .string("unavailable")),
            ]
            if let q = quotas[m.agent] {
                f += [("peak_tensor_bytes", .integer(q.peakBytes)), ("refused_allocations", .integer(q.refusedAllocations))]
            }
            if let limit = job.env.orchestrator.memoryLimits.limit(m.agent) { f.append(("memory_limit_bytes", .integer(limit))) }
            out.append((m.agent, .table(f)))
        }
        LuaStack.push(L, .table(out))
        return 1
    }
}
