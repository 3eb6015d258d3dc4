import CLua
import CLuaShim

/// `gpu.native`: every Swift function the stdlib's Lua modules build on, in one table. The
/// public modules (stdlib/gpu/*.lua) decide names and shapes; this table is their engine.
enum NativeModule {
    static func push(_ L: OpaquePointer) {
        ObjectTypes.registerMetatables(L)
        let all =
            TaskConstructors.functions + GPUFunctions.functions + CoordinationFunctions.functions + StageFunctions.functions
            + ClusterStageFunctions.functions + ObjectTypes.functions + TrackingFunctions.functions
            + SandboxFunctions.functions + ModelInterop.functions
        lua_createtable(L, 0, Int32(all.count + 1))
        for (name, f) in all {
            gf_pushswiftfunction(L, f)
            lua_setfield(L, -2, name)
        }
        lua_pushlightuserdata(L, LuaHost.awaitToken)
        lua_setfield(L, -2, "AWAIT")
    }
}
