import CLua
import CLuaShim
import Foundation
import GPUFlowCore

/// One Lua interpreter: a `lua_State` with its own limits, libraries and globals. A job owns
/// exactly one; it is only touched from the host thread that drives it.
///
/// The limits live in C (`gf_limits`) so the allocator and the count hook can enforce them
/// without calling into Swift; the sandbox issue only has to fill them in and narrow the
/// library list.
final class LuaState {
    struct Limits: Sendable {
        var instructions: UInt64 = 0
        var memoryBytes: Int = 0
        var wallSeconds: Double = 0
    }

    let L: OpaquePointer
    let limits: UnsafeMutablePointer<gf_limits>

    init(limits: Limits, stdlibPath: String, scriptDirectory: String) throws {
        self.limits = UnsafeMutablePointer<gf_limits>.allocate(capacity: 1)
        self.limits.initialize(to: gf_limits())
        self.limits.pointee.memory_limit = limits.memoryBytes
        self.limits.pointee.instruction_limit = limits.instructions
        if limits.wallSeconds > 0 {
            self.limits.pointee.deadline_ns = gf_monotonic_ns() + UInt64(limits.wallSeconds * 1e9)
        }
        guard let state = gf_newstate(self.limits) else {
            self.limits.deallocate()
            throw LuaError.runtime("cannot create a Lua state (out of memory)")
        }
        L = state
        account = MemoryAccount(self.limits)
        openLibraries(stdlibPath: stdlibPath, scriptDirectory: scriptDirectory)
    }

    /// The budget, for host objects that outlive a binding call (channel items, task results).
    let account: MemoryAccount

    deinit {
        account.close()
        lua_close(L)
        limits.deallocate()
    }

    /// Lua's base, coroutine, table, string, math, utf8, io, os and package libraries, with
    /// `require` limited to Lua files in the stdlib and the script's folder: C loaders are never
    /// reachable, so `require` cannot load native code.
    private func openLibraries(stdlibPath: String, scriptDirectory: String) {
        gf_openlibs(L)
        // Pattern matching runs in one C call where no hook fires: these count their steps.
        gf_open_counted_patterns(L)
        // coroutine.resume that tells the watchdog which Lua thread is running (gf_interrupt).
        gf_open_tracked_coroutines(L)
        // os.exit ends the script, recorded as exited with its status, not the process.
        gf_open_script_exit(L)
        lua_getglobal(L, "package")
        let path = "\(stdlibPath)/?.lua;\(stdlibPath)/?/init.lua;\(scriptDirectory)/?.lua;\(scriptDirectory)/?/init.lua"
        lua_pushstring(L, path)
        lua_setfield(L, -2, "path")
        lua_pushstring(L, "")
        lua_setfield(L, -2, "cpath")
        // Drop the C and all-in-one searchers: keep [1] preload and [2] Lua files.
        lua_getfield(L, -1, "searchers")
        lua_pushnil(L)
        lua_seti(L, -2, 4)
        lua_pushnil(L)
        lua_seti(L, -2, 3)
        gf_pop(L, 2)
        lua_pushnil(L)
        lua_setglobal(L, "loadlib")
        lua_getglobal(L, "package")
        lua_pushnil(L)
        lua_setfield(L, -2, "loadlib")
        gf_pop(L, 1)
    }

    /// Which limit stopped the script, if any.
    var trippedLimit: String? {
        let t = limits.pointee.tripped
        return t == 0 || t == Int32(GF_TRIP_EXIT.rawValue) ? nil : String(cString: gf_trip_message(t))
    }

    /// The status the script passed to os.exit, once it has called it.
    var exitRequested: Int32? {
        limits.pointee.tripped == Int32(GF_TRIP_EXIT.rawValue) ? limits.pointee.exit_code : nil
    }

    var memoryPeakBytes: Int { limits.pointee.memory_peak }
    var instructionsExecuted: UInt64 { limits.pointee.instructions }

    /// Asks the script to stop at its next hook (any thread may call this).
    func cancel() { limits.pointee.cancelled = 1 }

    /// The wall-time deadline (CLOCK_MONOTONIC nanoseconds), 0 for none.
    var deadlineNS: UInt64 { gf_deadline(limits) }
}

/// Errors of the embedding itself (not of a script's logic).
public enum LuaError: KindedError, CustomStringConvertible, Sendable {
    case syntax(String)
    case runtime(String)
    case file(String)

    /// A script that cannot be opened is a wrong input; one that does not parse or fails is the
    /// script's own error.
    public var kind: ErrorKind {
        if case .file = self { return .input }
        return .script
    }

    public var description: String {
        switch self {
        case .syntax(let m), .runtime(let m), .file(let m): return m
        }
    }
}
