import CLua
import CLuaShim
import GPUFlowCore

/// Reads the named-argument table of a gpuflow function with uniform wording:
/// `gpu.training: epochs must be a positive integer, got -3`. Unknown keys are refused, so a
/// misspelt argument is an error rather than a silently ignored default.
final class LuaArgs {
    let L: OpaquePointer
    let index: Int32
    let function: String
    private var seen: Set<String> = []

    /// `optional`: a missing (nil) argument reads as an empty table.
    init(_ L: OpaquePointer, _ index: Int32, function: String, optional: Bool = false) throws {
        self.L = L
        self.function = function
        if optional && lua_type(L, index) <= LUA_TNIL {
            gf_newtable(L)
            self.index = lua_gettop(L)
        } else {
            guard lua_type(L, index) == LUA_TTABLE else {
                throw LuaArgumentError("\(function): expected a table of named arguments, got \(LuaStack.typeName(L, index))")
            }
            self.index = lua_absindex(L, index)
        }
    }

    func fail(_ key: String, _ expectation: String) -> LuaArgumentError {
        LuaArgumentError("\(function): \(key) must be \(expectation), got \(describe(-1))")
    }

    /// A short rendering of the value on top of the stack, for messages.
    private func describe(_ idx: Int32) -> String {
        switch lua_type(L, idx) {
        case LUA_TNUMBER:
            if gf_isinteger(L, idx) != 0 { return "\(lua_tointegerx(L, idx, nil))" }
            return "\(lua_tonumberx(L, idx, nil))"
        case LUA_TSTRING: return "'\(LuaStack.string(L, idx) ?? "")'"
        case LUA_TBOOLEAN: return lua_toboolean(L, idx) != 0 ? "true" : "false"
        default: return LuaStack.typeName(L, idx)
        }
    }

    /// Pushes the raw field (no metamethods) and runs body with it on top; pops it after.
    private func with<T>(_ key: String, _ body: () throws -> T?) rethrows -> T? {
        seen.insert(key)
        LuaStack.push(L, key)
        lua_rawget(L, index)
        defer { gf_pop(L, 1) }
        if lua_type(L, -1) <= LUA_TNIL { return nil }
        return try body()
    }

    /// Pushes the raw value of `key` (nil if absent) for the caller to read and pop.
    func pushField(_ key: String) {
        seen.insert(key)
        LuaStack.push(L, key)
        lua_rawget(L, index)
    }

    func has(_ key: String) -> Bool {
        LuaStack.push(L, key)
        lua_rawget(L, index)
        defer { gf_pop(L, 1) }
        return lua_type(L, -1) > LUA_TNIL
    }

    /// The largest integer an option takes unless it says otherwise: sizes and counts past 2^40
    /// only ever overflow what is computed from them (a hidden layer of 2^62 units trapped).
    static let defaultMax = 1 << 40

    func int(_ key: String, min: Int = .min, max: Int = LuaArgs.defaultMax) throws -> Int? {
        try with(key) {
            let expectation = min == 1 ? "a positive integer" : min == 0 ? "a non-negative integer" : "an integer"
            guard lua_type(L, -1) == LUA_TNUMBER else { throw fail(key, expectation) }
            var ok: Int32 = 0
            let v = lua_tointegerx(L, -1, &ok)
            guard ok != 0 else { throw fail(key, expectation) }
            guard Int(v) >= min else { throw fail(key, expectation) }
            guard Int(v) <= max else { throw fail(key, "at most \(max)") }
            return Int(v)
        }
    }

    func int(_ key: String, default value: Int, min: Int = .min, max: Int = LuaArgs.defaultMax) throws -> Int {
        try int(key, min: min, max: max) ?? value
    }

    func double(_ key: String, min: Double = -.infinity, max: Double = .infinity, exclusiveMin: Bool = false) throws -> Double? {
        try with(key) {
            guard lua_type(L, -1) == LUA_TNUMBER else { throw fail(key, "a number") }
            let v = lua_tonumberx(L, -1, nil)
            guard v.isFinite else { throw fail(key, "a finite number") }
            if exclusiveMin ? !(v > min) : !(v >= min) {
                throw fail(key, min == 0 && exclusiveMin ? "a positive number" : "\(exclusiveMin ? "greater than" : "at least") \(min)")
            }
            guard v <= max else { throw fail(key, "at most \(max)") }
            return v
        }
    }

    func double(
        _ key: String, default value: Double, min: Double = -.infinity, max: Double = .infinity,
        exclusiveMin: Bool = false
    ) throws -> Double {
        try double(key, min: min, max: max, exclusiveMin: exclusiveMin) ?? value
    }

    func bool(_ key: String) throws -> Bool? {
        try with(key) {
            guard lua_type(L, -1) == LUA_TBOOLEAN else { throw fail(key, "true or false") }
            return lua_toboolean(L, -1) != 0
        }
    }

    func string(_ key: String) throws -> String? {
        try with(key) {
            guard lua_type(L, -1) == LUA_TSTRING, let s = LuaStack.string(L, -1) else { throw fail(key, "a string") }
            return s
        }
    }

    /// A string's bytes as Lua holds them (not decoded: a byte-level prompt may be any bytes).
    func bytes(_ key: String) throws -> [UInt8]? {
        try with(key) {
            guard lua_type(L, -1) == LUA_TSTRING, let b = LuaStack.bytes(L, -1) else { throw fail(key, "a string") }
            return b
        }
    }

    func choice<C: NamedChoice>(_ key: String) throws -> C? {
        try with(key) {
            guard lua_type(L, -1) == LUA_TSTRING, let s = LuaStack.string(L, -1), let c = C(rawValue: s) else {
                throw fail(key, "one of \(C.choices)")
            }
            return c
        }
    }

    func stringList(_ key: String) throws -> [String]? {
        try with(key) {
            guard case .array(let items) = try LuaStack.read(L, -1, what: "\(function): \(key)") else {
                throw fail(key, "a list of strings")
            }
            return try items.map { item -> String in
                guard case .string(let s) = item else { throw fail(key, "a list of strings") }
                return s
            }
        }
    }

    func intList(_ key: String, min: Int = .min, max: Int = LuaArgs.defaultMax) throws -> [Int]? {
        try with(key) {
            guard case .array(let items) = try LuaStack.read(L, -1, what: "\(function): \(key)") else {
                throw fail(key, "a list of integers")
            }
            return try items.map { item -> Int in
                guard case .integer(let i) = item, i >= min else {
                    throw fail(key, min == 1 ? "a list of positive integers" : "a list of integers")
                }
                guard i <= max else { throw fail(key, "a list of integers of at most \(max)") }
                return i
            }
        }
    }

    /// A Lua function, anchored in the registry; the caller owns the returned reference.
    func function(_ key: String) throws -> Int32? {
        try with(key) {
            guard lua_type(L, -1) == LUA_TFUNCTION else { throw fail(key, "a function") }
            lua_pushvalue(L, -1)
            return luaL_ref(L, gf_registryindex())
        }
    }

    /// One of our userdata of type T (`kind` names it in messages).
    func object<T>(_ key: String, kind: String) throws -> T? {
        try with(key) {
            guard let o: T = LuaObjects.object(L, -1) else { throw fail(key, "a \(kind)") }
            return o
        }
    }

    /// A nested table of named arguments, read with its own LuaArgs (the caller must `finish` it).
    func table<T>(_ key: String, _ body: (LuaArgs) throws -> T) throws -> T? {
        try with(key) {
            guard lua_type(L, -1) == LUA_TTABLE else { throw fail(key, "a table") }
            let nested = try LuaArgs(L, -1, function: "\(function): \(key)")
            let value = try body(nested)
            try nested.finish()
            return value
        }
    }

    /// The positional entries 1, 2, … (up to the first nil), each pushed for `body` to read
    /// at the top of the stack and popped after; at most `limit`.
    func positional<T>(limit: Int, _ body: (Int) throws -> T) throws -> [T] {
        var out: [T] = []
        var i: lua_Integer = 1
        while true {
            lua_rawgeti(L, index, i)
            if lua_type(L, -1) <= LUA_TNIL {
                gf_pop(L, 1)
                return out
            }
            guard out.count < limit else {
                gf_pop(L, 1)
                throw LuaArgumentError("\(function): more than \(limit) positional entries")
            }
            defer { gf_pop(L, 1) }
            out.append(try body(Int(i)))
            i += 1
        }
    }

    /// Refuses keys no getter asked for, naming the ones that exist; `positional`: integer keys
    /// (read with `positional`) are allowed too.
    func finish(positional allowed: Bool = false) throws {
        lua_pushnil(L)
        while lua_next(L, index) != 0 {
            gf_pop(L, 1)
            if allowed && gf_isinteger(L, -1) != 0 { continue }
            guard lua_type(L, -1) == LUA_TSTRING, let key = LuaStack.string(L, -1) else {
                let t = LuaStack.typeName(L, -1)
                gf_pop(L, 1)
                throw LuaArgumentError("\(function): arguments are named (key = value); got a \(t) key")
            }
            if !seen.contains(key) {
                gf_pop(L, 1)
                throw LuaArgumentError("\(function): unknown argument '\(key)' (expected one of: \(seen.sorted().joined(separator: ", ")))")
            }
        }
    }
}
