import CLua
import CLuaShim
import GPUFlowCore
import GPUFlowML

/// The one way a Swift function is exposed to Lua. The body may throw; the error becomes the
/// Lua error value and `GF_RAISE` asks the C trampoline to raise it after this Swift frame has
/// returned (see gf_lua.h for why).
enum LuaBinding {
    static let raise: Int32 = -1

    static func call(_ L: OpaquePointer?, _ body: (OpaquePointer, LuaJob) throws -> Int32) -> Int32 {
        guard let L, let raw = gf_getcontext(L) else { return 0 }
        let job = Unmanaged<LuaJob>.fromOpaque(raw).takeUnretainedValue()
        do {
            return try body(L, job)
        } catch {
            job.note(error)
            LuaStack.push(L, "\(error)")
            return raise
        }
    }
}
