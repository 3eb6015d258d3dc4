import CLua
import CLuaShim
import GPUFlowCompute
import GPUFlowCore
import GPUFlowML

/// A reinforcement-learning environment written in the script:
///
///     environment = {name = "walk", observations = 2, actions = 3, new = function() return env end}
///
/// where `env:reset()` returns the first observation and `env:step(action)` (action 1..actions)
/// returns observation, reward, done. Each parallel episode gets its own `new()` instance. The
/// trainer runs on a workload thread; every call is carried to the host thread that owns the
/// script's Lua state and waited for.
final class LuaRLEnvironmentFactory: @unchecked Sendable {
    let job: LuaJob
    let newRef: Int32
    let observations: Int
    let actions: Int
    let maxSteps: Int

    init(job: LuaJob, newRef: Int32, observations: Int, actions: Int, maxSteps: Int) {
        self.job = job
        self.newRef = newRef
        self.observations = observations
        self.actions = actions
        self.maxSteps = maxSteps
    }

    func make() throws -> any Environment {
        let ref: Int32 = try job.host.callOnHost(job) { L in
            lua_rawgeti(L, gf_registryindex(), lua_Integer(self.newRef))
            if gf_pcall(L, 0, 1, 0) != LUA_OK {
                defer { gf_pop(L, 1) }
                throw LuaError.runtime("environment new(): \(LuaStack.string(L, -1) ?? "error")")
            }
            guard lua_type(L, -1) == LUA_TTABLE else {
                gf_pop(L, 1)
                throw LuaError.runtime("environment new() must return a table with reset and step methods")
            }
            return luaL_ref(L, gf_registryindex())
        }
        return LuaRLEnvironment(factory: self, instance: ref)
    }

    /// Calls instance:method(args...) on the host thread; returns its results as TaskValues.
    func call(_ instance: Int32, _ method: String, _ args: [Int], results: Int32) throws -> [TaskValueBox] {
        try job.host.callOnHost(job) { L in
            let top = lua_gettop(L)
            defer { lua_settop(L, top) }
            guard lua_checkstack(L, Int32(args.count) + 4) != 0 else { throw LuaError.runtime("environment \(method): out of stack") }
            // The method is looked up inside the protected call: an instance's __index may raise.
            gf_pushmethodcaller(L)
            lua_rawgeti(L, gf_registryindex(), lua_Integer(instance))
            LuaStack.push(L, method)
            for a in args { lua_pushinteger(L, lua_Integer(a)) }
            if gf_pcall(L, Int32(args.count + 2), results, 0) != LUA_OK {
                throw LuaError.runtime("environment \(method): \(LuaStack.string(L, -1) ?? "error")")
            }
            return try (0..<Int(results)).map { i in
                TaskValueBox(try LuaStack.read(L, -results + Int32(i), what: "environment \(method) result \(i + 1)"))
            }
        }
    }

    func release(_ instance: Int32) {
        job.host.post(.onHost(job) { L in luaL_unref(L, gf_registryindex(), instance) })
    }
}

/// A value read on the host thread, carried back to the workload thread.
struct TaskValueBox: @unchecked Sendable {
    let value: TaskValue
    init(_ v: TaskValue) { value = v }
}

final class LuaRLEnvironment: Environment {
    let factory: LuaRLEnvironmentFactory
    let instance: Int32

    init(factory: LuaRLEnvironmentFactory, instance: Int32) {
        self.factory = factory
        self.instance = instance
    }

    deinit { factory.release(instance) }

    var observationSize: Int { factory.observations }
    var actionCount: Int { factory.actions }
    var maxSteps: Int { factory.maxSteps }

    private func observation(_ v: TaskValue, _ method: String) throws -> [Float] {
        let values: [Float]
        switch v {
        case .floats(let f): values = f
        case .array(let items):
            values = try items.map { i in
                guard let d = i.doubleValue else { throw LuaError.runtime("environment \(method): observations must be numbers") }
                return Float(d)
            }
        default: throw LuaError.runtime("environment \(method): expected an observation (a list of \(factory.observations) numbers)")
        }
        guard values.count == factory.observations else {
            throw LuaError.runtime("environment \(method): observation has \(values.count) numbers, expected \(factory.observations)")
        }
        return values
    }

    func reset(_ rng: inout Philox) throws -> [Float] {
        try observation(factory.call(instance, "reset", [], results: 1)[0].value, "reset")
    }

    func step(_ action: Int, _ rng: inout Philox) throws -> (observation: [Float], reward: Float, done: Bool) {
        let r = try factory.call(instance, "step", [action + 1], results: 3)
        guard let reward = r[1].value.doubleValue else { throw LuaError.runtime("environment step: the reward must be a number") }
        guard case .bool(let done) = r[2].value else { throw LuaError.runtime("environment step: done must be true or false") }
        return (try observation(r[0].value, "step"), Float(reward), done)
    }

    func potential(_ observation: [Float]) -> Float { 0 }
}
