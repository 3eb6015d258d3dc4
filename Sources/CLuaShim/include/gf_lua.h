/*
 * gf_lua.h — the only C that gpuflow writes around Lua.
 *
 * Why it exists: Lua raises errors (and yields) with longjmp. A longjmp across a Swift frame
 * skips its releases, so no Swift frame may be on the stack when Lua raises. Swift binding
 * functions therefore never raise: they return a result count, or GF_RAISE with the error
 * value on top of the stack, and gf_trampoline raises *after* the Swift call has returned.
 *
 * It also holds the per-state limits (memory through a counting allocator, instructions and
 * wall time through a count hook) so that the sandbox needs no second design, and wraps the
 * function-like macros of lua.h that Swift cannot import.
 */
#ifndef GF_LUA_H
#define GF_LUA_H

#include <stddef.h>
#include <stdint.h>
#include <lua5.4/lua.h>
#include <lua5.4/lauxlib.h>
#include <lua5.4/lualib.h>

/* A Swift binding returns this to ask the trampoline to raise the value on top of the stack. */
#define GF_RAISE (-1)

typedef int (*gf_swift_fn)(lua_State *L);

/* Why a run was stopped by a limit; 0 while none has tripped. */
enum gf_trip {
    GF_TRIP_NONE = 0,
    GF_TRIP_INSTRUCTIONS = 1,
    GF_TRIP_MEMORY = 2,
    GF_TRIP_WALL = 3,
    GF_TRIP_CANCELLED = 4,
    GF_TRIP_DEPTH = 5,
    GF_TRIP_OUTPUT = 6,
    GF_TRIP_TASKS = 7,
    /* Not a limit: os.exit(n) ends the script (its code in exit_code), not the process. */
    GF_TRIP_EXIT = 8,
};

/* Limits and counters of one lua_State. Zero for a limit means "unlimited". Owned by the host,
 * which must keep it alive for the life of the state. */
typedef struct gf_limits {
    size_t memory_limit;        /* bytes */
    size_t memory_used;
    size_t memory_peak;
    int native_depth;           /* >0 while a Swift binding runs: the allocator never refuses then */
    uint64_t instruction_limit;
    uint64_t instructions;
    uint64_t deadline_ns;       /* CLOCK_MONOTONIC; 0 = none */
    volatile int cancelled;     /* set from any thread to stop the script */
    int depth_limit;            /* Lua call depth; checked at each hook */
    int tripped;                /* enum gf_trip */
    /* Bytes the host holds for this state outside the Lua heap (tensors, data sets, models,
     * results): one budget with the heap. Changed from any thread through gf_charge/gf_release. */
    size_t external_used;
    /* >0 while the host is inside lua_resume or lua_pcall (gf_resume, gf_pcall): only then may
     * the allocator refuse, because only then is a memory error caught. Outside, a refusal would
     * raise with no protected call to land in (a panic), or longjmp through Swift. */
    int protected_depth;
    /* The Lua thread running now (the innermost one, coroutine.resume included), or NULL. */
    void *running;
    /* Time slicing between the scripts of one run, which share the host thread: while the host
     * has resumed `host_thread`, the hook yields it at `slice_deadline_ns` (0: never) if it can
     * yield, and sets `preempted` so the host resumes it later instead of taking the yield for an
     * await. */
    void *host_thread;
    uint64_t slice_deadline_ns;
    int preempted;
    uint64_t last_hook_ns;      /* when the hook last ran, for its adaptive count */
    int running_lock;           /* a spin lock over `running` (see gf_interrupt) */
    size_t refused_size;        /* the size the allocator last refused, until a growth is granted */
    int no_hook;                /* fault injection (GPUFLOW_FAULT_NO_HOOK): no hook, no interrupt */
    int outer_depth;            /* call levels of the coroutines that resumed the running one */
    int exit_code;              /* os.exit's status, once GF_TRIP_EXIT has tripped */
} gf_limits;

/* A new state whose allocations are counted (and bounded) in `limits`, with the count hook on. */
lua_State *gf_newstate(gf_limits *limits);
gf_limits *gf_limits_of(lua_State *L);
uint64_t gf_monotonic_ns(void);
const char *gf_trip_message(int trip);
/* Trips the first of cancellation, instructions and wall time that is past (shared by the hook
 * and the counted pattern functions); returns the trip, 0 when none. */
int gf_check_limits(gf_limits *lim);
/* Trips a limit from the host (output, tasks): the hook raises it from now on. */
void gf_trip(lua_State *L, int trip);
/* Installs the count hook on a thread (coroutines inherit it from their creator). */
void gf_sethook(lua_State *L);

/* Reserves `bytes` of the state's memory budget for host-side data: 0 when it fits beside the Lua
 * heap and what is already reserved, else -1 (nothing reserved; the memory limit is tripped). */
int gf_charge(gf_limits *lim, size_t bytes);
/* Returns bytes reserved by gf_charge. */
void gf_release(gf_limits *lim, size_t bytes);
/* Whether `bytes` more would fit the budget now (nothing is reserved). */
int gf_fits(gf_limits *lim, size_t bytes);
/* Heap plus host-side bytes. */
size_t gf_budget_used(gf_limits *lim);

/* From any thread: makes the hook run at the next instruction of the Lua thread running now
 * (the watchdog's way to stop a loop whose every turn is a slow C call, where the hook's
 * instruction count would otherwise take seconds to come round). */
void gf_interrupt(gf_limits *lim);
/* Replaces coroutine.resume by one that keeps `running` up to date (same semantics). */
void gf_open_tracked_coroutines(lua_State *L);
/* The wall-time deadline, read and moved from any thread. */
uint64_t gf_deadline(gf_limits *lim);
void gf_extend_deadline(gf_limits *lim, uint64_t ns);
/* lua_resume with the state marked protected for the allocator (see protected_depth). */
int gf_resume(lua_State *co, lua_State *from, int nargs, int *nres);
/* Pushes the traceback of `co` onto L from inside a protected call, so that running out of
 * memory there cannot panic; returns 1 when pushed, 0 when it could not be made (nothing pushed). */
int gf_traceback_protected(lua_State *L, lua_State *co);
/* Pushes a C function f(obj, name, args...) that calls obj:name(args...); call it with gf_pcall so
 * that reading a user table's method (its __index may raise) is protected. */
void gf_pushmethodcaller(lua_State *L);
/* Replaces string.find, match, gmatch and gsub by versions whose steps count as instructions and
 * honour the limits (gf_patterns.c). */
void gf_open_counted_patterns(lua_State *L);

/* Pushes a Lua function that calls `fn` through the trampoline. */
void gf_pushswiftfunction(lua_State *L, gf_swift_fn fn);

/* One pointer of host context per state, shared by all its threads (lua_getextraspace). */
void gf_setcontext(lua_State *L, void *ctx);
void *gf_getcontext(lua_State *L);

/* Wrappers for macros. */
int gf_registryindex(void);
int gf_upvalueindex(int i);
void gf_pop(lua_State *L, int n);
void gf_newtable(lua_State *L);
const char *gf_tostring(lua_State *L, int idx, size_t *len);
int gf_pcall(lua_State *L, int nargs, int nresults, int msgh);
int gf_loadbuffer(lua_State *L, const char *buf, size_t len, const char *name, const char *mode);
void gf_insert(lua_State *L, int idx);
void gf_remove(lua_State *L, int idx);
int gf_isinteger(lua_State *L, int idx);
void *gf_newuserdata(lua_State *L, size_t size);
/* A traceback string of `co` pushed onto L (msg may be NULL). */
void gf_traceback(lua_State *L, lua_State *co, const char *msg, int level);
/* Opens the standard libraries gpuflow allows (all but io, os, debug, package C loaders are
 * removed by the host later; see LuaState.swift). */
void gf_openlibs(lua_State *L);
/* Replaces os.exit by one that ends the script, not the process: the host records the run as
 * exited with that status (a C exit() skipped the run's recording, and left it "interrupted"). */
void gf_open_script_exit(lua_State *L);

#endif
