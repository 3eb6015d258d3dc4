import CLua
import CLuaShim
import GPUFlowCore

/// Moves values between the Lua stack and Swift. None of these functions raise a Lua error:
/// they are called from Swift bindings, where a longjmp would skip Swift cleanups.
enum LuaStack {
    static func string(_ L: OpaquePointer, _ idx: Int32) -> String? {
        withBytes(L, idx) { String(decoding: $0, as: UTF8.self) }
    }

    /// The bytes of the string at `idx`, unchanged (a Lua string need not be UTF-8).
    static func bytes(_ L: OpaquePointer, _ idx: Int32) -> [UInt8]? { withBytes(L, idx) { [UInt8]($0) } }

    /// The string at `idx` as text when it is UTF-8, as bytes otherwise (read once, in place).
    static func text(_ L: OpaquePointer, _ idx: Int32) -> TaskValue? {
        withBytes(L, idx) { TaskValue.text($0) }
    }

    /// `body` over the bytes Lua holds for the string at `idx` (valid only during the call).
    private static func withBytes<T>(_ L: OpaquePointer, _ idx: Int32, _ body: (UnsafeRawBufferPointer) -> T) -> T? {
        guard lua_type(L, idx) == LUA_TSTRING else { return nil }
        var len = 0
        guard let p = gf_tostring(L, idx, &len) else { return nil }
        return body(UnsafeRawBufferPointer(start: p, count: len))
    }

    static func typeName(_ L: OpaquePointer, _ idx: Int32) -> String {
        if lua_type(L, idx) == LUA_TUSERDATA, let kind = LuaObjects.kind(L, idx) { return kind }
        return String(cString: lua_typename(L, lua_type(L, idx)))
    }

    /// Pushes a Swift string (byte-exact, may contain NULs).
    static func push(_ L: OpaquePointer, _ s: String) {
        var s = s
        s.withUTF8 { push(L, bytes: $0) }
    }

    /// Pushes bytes as a Lua string, unchanged.
    static func push(_ L: OpaquePointer, bytes: UnsafeBufferPointer<UInt8>) {
        _ = lua_pushlstring(L, bytes.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }, bytes.count)
    }

    /// A float array as a Lua sequence: straight onto a presized table with raw sets, without
    /// a TaskValue per element (tensor:to_table of a million floats).
    static func push(_ L: OpaquePointer, floats: [Float]) {
        lua_createtable(L, Int32(clamping: floats.count), 0)
        for (i, v) in floats.enumerated() {
            lua_pushnumber(L, Double(v))
            lua_rawseti(L, -2, lua_Integer(i + 1))
        }
    }

    static func push(_ L: OpaquePointer, _ value: TaskValue) {
        switch value {
        case .null: lua_pushnil(L)
        case .bool(let b): lua_pushboolean(L, b ? 1 : 0)
        case .integer(let i): lua_pushinteger(L, lua_Integer(i))
        case .number(let d): lua_pushnumber(L, d)
        case .string(let s): push(L, s)
        case .bytes(let b): b.withUnsafeBufferPointer { push(L, bytes: $0) }
        case .array(let items):
            _ = lua_checkstack(L, 3)
            lua_createtable(L, Int32(clamping: items.count), 0)
            for (i, item) in items.enumerated() {
                push(L, item)
                lua_rawseti(L, -2, lua_Integer(i + 1))
            }
        case .table(let pairs):
            _ = lua_checkstack(L, 3)
            lua_createtable(L, 0, Int32(clamping: pairs.count))
            for (k, v) in pairs {
                push(L, v)
                lua_setfield(L, -2, k)
            }
        case .floats(let f): LuaObjects.push(L, HostTensor(values: f, shape: [f.count]))
        case .object(let o): LuaObjects.push(L, o)
        }
    }

    /// Reads the value at `idx` as a TaskValue. Sequences (keys 1..n) become arrays; tables
    /// with string keys become tables; functions, threads and cyclic tables are refused.
    /// Each table's entries are checked against the state's memory budget before Swift
    /// allocates for them, so a huge table cannot make Swift allocate past the limit.
    static func read(_ L: OpaquePointer, _ idx: Int32, what: String) throws -> TaskValue {
        var total = 0
        return try read(L, idx, what: what, depth: 0, total: &total)
    }

    /// `total` counts the host bytes of the whole conversion so far (one 16 MB string in forty
    /// places is 640 MB in Swift): checked against what is left of the budget as it grows.
    private static func read(_ L: OpaquePointer, _ idx: Int32, what: String, depth: Int, total: inout Int) throws -> TaskValue {
        let idx = lua_absindex(L, idx)
        guard depth < 64 else { throw LuaArgumentError("\(what): nested deeper than 64 levels (a cycle?)") }
        switch lua_type(L, idx) {
        case LUA_TNIL, LUA_TNONE: return .null
        case LUA_TBOOLEAN: return .bool(lua_toboolean(L, idx) != 0)
        case LUA_TNUMBER:
            if gf_isinteger(L, idx) != 0 { return .integer(Int(lua_tointegerx(L, idx, nil))) }
            return .number(lua_tonumberx(L, idx, nil))
        case LUA_TSTRING:
            try charge(L, Int(lua_rawlen(L, idx)) + 32, what: what, total: &total)
            return text(L, idx) ?? .string("")
        case LUA_TUSERDATA:
            if let t: HostTensor = LuaObjects.object(L, idx) { return .floats(t.values) }  // shared, not copied
            if let o: any TaskObject = LuaObjects.taskObject(L, idx) { return .object(o) }
            throw LuaArgumentError("\(what): a \(typeName(L, idx)) cannot be passed here")
        case LUA_TTABLE:
            // Entries first: the border (#t) of a sparse table can be 2^40 with a few dozen
            // entries, so nothing is allocated by the border; a sequence has as many entries.
            var entries = 0
            guard lua_checkstack(L, 3) != 0 else { throw LuaArgumentError("\(what): nested too deeply") }
            lua_pushnil(L)
            while lua_next(L, idx) != 0 {
                entries += 1
                gf_pop(L, 1)
            }
            try charge(L, entries * (MemoryLayout<TaskValue>.stride + 16), what: what, total: &total)
            let n = min(Int(lua_rawlen(L, idx)), entries)
            var count = 0
            var pairs: [(String, TaskValue)] = []
            var items = [TaskValue](repeating: .null, count: n)
            var isSequence = Int(lua_rawlen(L, idx)) == n
            lua_pushnil(L)
            while lua_next(L, idx) != 0 {
                count += 1
                if gf_isinteger(L, -2) != 0, case let k = Int(lua_tointegerx(L, -2, nil)), k >= 1, k <= n {
                    items[k - 1] = try read(L, -1, what: "\(what)[\(k)]", depth: depth + 1, total: &total)
                } else if lua_type(L, -2) == LUA_TSTRING, let key = string(L, -2) {
                    isSequence = false
                    pairs.append((key, try read(L, -1, what: "\(what).\(key)", depth: depth + 1, total: &total)))
                } else {
                    let keyType = typeName(L, -2)
                    gf_pop(L, 2)
                    throw LuaArgumentError("\(what): table keys must be strings or 1..n, got a \(keyType) key")
                }
                gf_pop(L, 1)
            }
            if isSequence && count == n { return .array(items) }
            if n > 0 { throw LuaArgumentError("\(what): a table cannot mix a list part and string keys") }
            return .table(pairs.sorted { $0.0 < $1.0 })
        default:
            throw LuaArgumentError("\(what): a \(typeName(L, idx)) cannot cross into a task")
        }
    }
}

extension LuaStack {
    fileprivate static func charge(_ L: OpaquePointer, _ bytes: Int, what: String, total: inout Int) throws {
        total += bytes
        guard let limits = gf_limits_of(L), limits.pointee.memory_limit > 0, gf_fits(limits, total) == 0 else { return }
        gf_trip(L, Int32(GF_TRIP_MEMORY.rawValue))
        throw LuaArgumentError(
            "\(what): the value needs \(total) bytes in the host, over what is left of the budget: memory limit exceeded")
    }
}

/// A bad argument to a gpuflow function; its message is raised as the Lua error.
struct LuaArgumentError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
