import GPUFlowLua
import Testing

/// Where a failed run's error is kept as pointing: the script's own line, also when the error
/// was raised in a module it called or Lua shortened the path.
@Suite struct LuaFailureTests {
    @Test func theScriptsLineIsFoundInTheMessageOrTraceback() {
        #expect(LuaFailure.location(in: "/tmp/job.lua:12: bad value") == "/tmp/job.lua:12")
        #expect(LuaFailure.location(in: "no location here") == nil)
        let tb =
            "stack traceback:\n\t[C]: in function 'error'\n\t/w/helpers.lua:3: in function 'helpers.check'\n\t/w/job.lua:5: in main chunk"
        #expect(LuaFailure.scriptLine(message: "/w/helpers.lua:3: x too large", traceback: tb, script: "/w/job.lua") == "/w/job.lua:5")
        #expect(
            LuaFailure.scriptLine(message: ".../very/long/path/job.lua:9: oops", traceback: nil, script: "/a/very/long/path/job.lua")
                == ".../very/long/path/job.lua:9")
        #expect(LuaFailure.scriptLine(message: "/w/lib.lua:2: elsewhere", traceback: nil, script: "/w/job.lua") == "/w/lib.lua:2")
    }
}
