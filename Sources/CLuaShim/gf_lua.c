#include "gf_lua.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Instructions between two hook calls: small enough that limits act quickly, large enough
 * that the hook costs nothing measurable. */
#define GF_HOOK_EVERY 1000

uint64_t gf_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const char *gf_trip_message(int trip) {
    switch (trip) {
    case GF_TRIP_INSTRUCTIONS: return "sandbox: instruction limit exceeded";
    case GF_TRIP_MEMORY: return "sandbox: memory limit exceeded";
    case GF_TRIP_WALL: return "sandbox: wall-time limit exceeded";
    case GF_TRIP_CANCELLED: return "run cancelled";
    case GF_TRIP_DEPTH: return "sandbox: call depth limit exceeded (deep recursion)";
    case GF_TRIP_OUTPUT: return "sandbox: output limit exceeded";
    case GF_TRIP_TASKS: return "sandbox: task limit exceeded";
    case GF_TRIP_EXIT: return "the script called os.exit";
    default: return "no limit tripped";
    }
}

static void gf_hook(lua_State *L, lua_Debug *ar);
static void *gf_set_running(gf_limits *lim, void *thread);

static void *gf_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    gf_limits *lim = (gf_limits *)ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        lim->memory_used -= old;
        return NULL;
    }
    /* Refuse only while Lua itself runs inside a protected call of the host's; during a Swift
     * binding the refusal would longjmp through Swift (the trampoline checks the budget after
     * the binding returns), and outside any protected call it would panic. */
    if (lim->memory_limit && lim->native_depth == 0 && lim->protected_depth > 0 && nsize > old &&
        lim->memory_used + __atomic_load_n(&lim->external_used, __ATOMIC_RELAXED) + (nsize - old) > lim->memory_limit) {
        /* Lua answers a refusal with an emergency collection and one more try of the same
         * size; only a second refusal of that size (no growth granted between) is a real error,
         * and the limit then counts as hit even if a pcall catches it. */
        if (lim->refused_size == nsize) {
            if (!lim->tripped) lim->tripped = GF_TRIP_MEMORY;  /* the first limit hit is the reason */
        }
        lim->refused_size = nsize;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (p) {
        if (nsize > old) lim->refused_size = 0;
        lim->memory_used = lim->memory_used - old + nsize;
        if (lim->memory_used > lim->memory_peak) lim->memory_peak = lim->memory_used;
    }
    return p;
}

/* The hook runs every GF_HOOK_EVERY instructions, unless instructions come slowly: a loop
 * whose every turn calls a C function that takes milliseconds (s:upper() on 16 MB, load of a
 * large chunk) would otherwise look at the clock only every few seconds. So the count adapts:
 * a gap of more than GF_HOOK_SLOW_NS between two hooks divides it by ten (down to 1, a look per
 * instruction), a gap under GF_HOOK_FAST_NS doubles it back. */
#define GF_HOOK_SLOW_NS 2000000ull
#define GF_HOOK_FAST_NS 200000ull

static void gf_adapt_count(lua_State *L, gf_limits *lim, uint64_t now) {
    int count = lua_gethookcount(L);
    if (lim->last_hook_ns && count > 0) {
        uint64_t gap = now - lim->last_hook_ns;
        int next = count;
        if (gap > GF_HOOK_SLOW_NS && count > 1) next = count / 10 > 0 ? count / 10 : 1;
        else if (gap < GF_HOOK_FAST_NS && count < GF_HOOK_EVERY) next = count * 2 < GF_HOOK_EVERY ? count * 2 : GF_HOOK_EVERY;
        if (next != count) lua_sethook(L, gf_hook, LUA_MASKCOUNT, next);
    }
    lim->last_hook_ns = now;
}

int gf_check_limits(gf_limits *lim) {
    if (!lim->tripped) {
        if (lim->cancelled) lim->tripped = GF_TRIP_CANCELLED;
        else if (lim->instruction_limit && lim->instructions > lim->instruction_limit) lim->tripped = GF_TRIP_INSTRUCTIONS;
        else if (lim->deadline_ns && gf_monotonic_ns() > gf_deadline(lim)) lim->tripped = GF_TRIP_WALL;
    }
    return lim->tripped;
}

static void gf_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    gf_limits *lim = gf_limits_of(L);
    if (!lim) return;
    int count = lua_gethookcount(L);
    lim->instructions += (uint64_t)(count > 0 ? count : 1);
    uint64_t now = gf_monotonic_ns();
    if (!lim->tripped) gf_adapt_count(L, lim, now);
    if (!gf_check_limits(lim) && lim->depth_limit > 0) {
        /* The depth of the coroutines that resumed this one counts too (outer_depth). */
        int level = lim->depth_limit - lim->outer_depth;
        lua_Debug probe;
        if (lua_getstack(L, level > 0 ? level : 0, &probe)) lim->tripped = GF_TRIP_DEPTH;
    }
    if (!lim->tripped && lim->slice_deadline_ns && (void *)L == lim->host_thread && lua_isyieldable(L) &&
        now > lim->slice_deadline_ns) {
        /* The script's slice of the host thread is over: hand it to the other scripts. */
        lim->slice_deadline_ns = 0;
        lim->preempted = 1;
        lua_yield(L, 0);
        return;
    }
    if (lim->tripped) {
        /* Raise again at once if a pcall swallowed the first error (redis luaMaskCountHook). */
        lua_sethook(L, gf_hook, LUA_MASKCOUNT, 1);
        luaL_error(L, "%s", gf_trip_message(lim->tripped));
    }
}

void gf_trip(lua_State *L, int trip) {
    gf_limits *lim = gf_limits_of(L);
    if (lim && !lim->tripped) lim->tripped = trip;
    if (lim) lua_sethook(L, gf_hook, LUA_MASKCOUNT, 1);
}

void gf_sethook(lua_State *L) { lua_sethook(L, gf_hook, LUA_MASKCOUNT, GF_HOOK_EVERY); }

lua_State *gf_newstate(gf_limits *limits) {
    lua_State *L = lua_newstate(gf_alloc, limits);
    if (!L) return NULL;
    /* Fault injection for the tests of the watchdog: with GPUFLOW_FAULT_NO_HOOK set, the count
     * hook is never installed, as if the script sat in one call that no hook reaches. It only
     * removes a protection; nothing a script can set. */
    const char *nohook = getenv("GPUFLOW_FAULT_NO_HOOK");
    limits->no_hook = nohook && *nohook;
    if (!limits->no_hook) gf_sethook(L);
    return L;
}

gf_limits *gf_limits_of(lua_State *L) {
    void *ud = NULL;
    lua_getallocf(L, &ud);
    return (gf_limits *)ud;
}

/* The level of the nearest Lua function outside gpuflow's own stdlib: errors raised by a binding
 * point at the script line that called the stdlib wrapper, not at the wrapper. */
static int gf_user_level(lua_State *L) {
    lua_Debug ar;
    for (int level = 1; lua_getstack(L, level, &ar); level++) {
        if (!lua_getinfo(L, "Sl", &ar)) break;
        if (ar.currentline > 0 && strncmp(ar.source, "@stdlib/", 8) != 0) return level;
    }
    return 1;
}

static int gf_trampoline(lua_State *L) {
    gf_swift_fn fn = (gf_swift_fn)lua_touserdata(L, lua_upvalueindex(1));
    gf_limits *lim = gf_limits_of(L);
    lim->native_depth++;
    int n = fn(L);
    lim->native_depth--;
    if (n == GF_RAISE) {
        /* Prefix "chunk:line:" of the Lua caller, as luaL_error does, so a bad argument points
         * at the script line that passed it. */
        if (lua_type(L, -1) == LUA_TSTRING) {
            luaL_where(L, gf_user_level(L));
            lua_insert(L, -2);
            lua_concat(L, 2);
        }
        return lua_error(L);
    }
    if (lim->memory_limit && lim->native_depth == 0 && gf_budget_used(lim) > lim->memory_limit) {
        if (!lim->tripped) lim->tripped = GF_TRIP_MEMORY;
        return luaL_error(L, "%s", gf_trip_message(GF_TRIP_MEMORY));
    }
    return n;
}

void gf_pushswiftfunction(lua_State *L, gf_swift_fn fn) {
    lua_pushlightuserdata(L, (void *)fn);
    lua_pushcclosure(L, gf_trampoline, 1);
}

void gf_setcontext(lua_State *L, void *ctx) { memcpy(lua_getextraspace(L), &ctx, sizeof(void *)); }
void *gf_getcontext(lua_State *L) {
    void *ctx;
    memcpy(&ctx, lua_getextraspace(L), sizeof(void *));
    return ctx;
}

int gf_registryindex(void) { return LUA_REGISTRYINDEX; }
int gf_upvalueindex(int i) { return lua_upvalueindex(i); }
void gf_pop(lua_State *L, int n) { lua_pop(L, n); }
void gf_newtable(lua_State *L) { lua_newtable(L); }
const char *gf_tostring(lua_State *L, int idx, size_t *len) { return lua_tolstring(L, idx, len); }
int gf_pcall(lua_State *L, int nargs, int nresults, int msgh) {
    gf_limits *lim = gf_limits_of(L);
    lim->protected_depth++;
    void *outer = gf_set_running(lim, L);
    int status = lua_pcall(L, nargs, nresults, msgh);
    gf_set_running(lim, outer);
    lim->protected_depth--;
    return status;
}

static void gf_lock_running(gf_limits *lim) {
    while (__atomic_exchange_n(&lim->running_lock, 1, __ATOMIC_ACQUIRE)) { }
}
static void gf_unlock_running(gf_limits *lim) { __atomic_store_n(&lim->running_lock, 0, __ATOMIC_RELEASE); }

/* Sets `running`, returning what it was; under the lock, so that gf_interrupt never touches a
 * thread that has stopped running (and may be collected). */
static void *gf_set_running(gf_limits *lim, void *thread) {
    gf_lock_running(lim);
    void *outer = lim->running;
    lim->running = thread;
    gf_unlock_running(lim);
    return outer;
}

void gf_interrupt(gf_limits *lim) {
    gf_lock_running(lim);
    if (lim->running && !lim->no_hook) lua_sethook((lua_State *)lim->running, gf_hook, LUA_MASKCOUNT, 1);
    gf_unlock_running(lim);
}

int gf_resume(lua_State *co, lua_State *from, int nargs, int *nres) {
    gf_limits *lim = gf_limits_of(co);
    /* Whatever a resume leaves behind (an error that jumped out of a binding would leave
     * native_depth raised, and the allocator would never refuse again), the next one starts
     * from the host's own counts. */
    int native = lim->native_depth, outer_depth = lim->outer_depth;
    lim->protected_depth++;
    lim->preempted = 0;
    void *outer = gf_set_running(lim, co);
    void *outer_host = lim->host_thread;
    lim->host_thread = co;
    int status = lua_resume(co, from, nargs, nres);
    lim->host_thread = outer_host;
    gf_set_running(lim, outer);
    lim->protected_depth--;
    lim->native_depth = native;
    lim->outer_depth = outer_depth;
    return status;
}

/* The number of call levels on L's stack (exponential, then binary search with lua_getstack). */
static int gf_stack_depth(lua_State *L) {
    lua_Debug ar;
    int lo = 0, hi = 1;
    while (lua_getstack(L, hi, &ar)) { lo = hi; hi *= 2; if (hi > (1 << 20)) break; }
    while (hi - lo > 1) {
        int mid = lo + (hi - lo) / 2;
        if (lua_getstack(L, mid, &ar)) lo = mid; else hi = mid;
    }
    return lo + 1;
}

/* coroutine.resume as in Lua 5.4.4's lcorolib.c (auxresume, luaB_coresume), with the resumed
 * thread recorded as running while it runs. */
static int gf_coresume(lua_State *L) {
    lua_State *co = lua_tothread(L, 1);
    luaL_argexpected(L, co, 1, "coroutine");
    int narg = lua_gettop(L) - 1, nres = 0;
    if (!lua_checkstack(co, narg)) {
        lua_pushboolean(L, 0);
        lua_pushliteral(L, "too many arguments to resume");
        return 2;
    }
    lua_xmove(L, co, narg);
    gf_limits *lim = gf_limits_of(L);
    int depth = lim->depth_limit > 0 ? gf_stack_depth(L) : 0;
    lim->outer_depth += depth;
    void *outer = gf_set_running(lim, co);
    int status = lua_resume(co, L, narg, &nres);
    gf_set_running(lim, outer);
    lim->outer_depth -= depth;
    /* A limit or os.exit tripped inside the coroutine: the resumer stops at its next
     * instruction too, not after the hook's usual count. */
    if (lim->tripped) lua_sethook(L, gf_hook, LUA_MASKCOUNT, 1);
    if (status == LUA_OK || status == LUA_YIELD) {
        if (!lua_checkstack(L, nres + 1)) {
            lua_pop(co, nres);
            lua_pushboolean(L, 0);
            lua_pushliteral(L, "too many results to resume");
            return 2;
        }
        lua_pushboolean(L, 1);
        lua_xmove(co, L, nres);
        return nres + 1;
    }
    lua_pushboolean(L, 0);
    lua_xmove(co, L, 1);
    return 2;
}

void gf_open_tracked_coroutines(lua_State *L) {
    lua_getglobal(L, "coroutine");
    if (lua_istable(L, -1)) {
        lua_pushcfunction(L, gf_coresume);
        lua_setfield(L, -2, "resume");
    }
    lua_pop(L, 1);
    /* coroutine.wrap through the tracked resume, so what holds for resume holds for it. */
    (void)luaL_dostring(L,
        "local create, resume, pack, unpack, raise = coroutine.create, coroutine.resume, table.pack, table.unpack, error\n"
        "coroutine.wrap = function(f)\n"
        "  local co = create(f)\n"
        "  return function(...)\n"
        "    local r = pack(resume(co, ...))\n"
        "    if not r[1] then raise(r[2], 0) end\n"
        "    return unpack(r, 2, r.n)\n"
        "  end\n"
        "end\n");
}

uint64_t gf_deadline(gf_limits *lim) { return __atomic_load_n(&lim->deadline_ns, __ATOMIC_RELAXED); }
void gf_extend_deadline(gf_limits *lim, uint64_t ns) {
    if (__atomic_load_n(&lim->deadline_ns, __ATOMIC_RELAXED)) __atomic_add_fetch(&lim->deadline_ns, ns, __ATOMIC_RELAXED);
}

static int gf_traceback_call(lua_State *L) {
    lua_State *co = (lua_State *)lua_touserdata(L, 1);
    luaL_traceback(L, co, NULL, 0);
    return 1;
}

int gf_traceback_protected(lua_State *L, lua_State *co) {
    if (!lua_checkstack(L, 3)) return 0;
    lua_pushcfunction(L, gf_traceback_call);
    lua_pushlightuserdata(L, co);
    if (gf_pcall(L, 1, 1, 0) != LUA_OK) {
        lua_pop(L, 1);
        return 0;
    }
    return 1;
}

/* obj, name, args... → obj[name](obj, args...): the lookup runs inside the caller's pcall, so a
 * raising __index is an error like any other, not a longjmp through the host. */
static int gf_method_call(lua_State *L) {
    int n = lua_gettop(L);
    const char *name = lua_tostring(L, 2);
    lua_getfield(L, 1, name ? name : "?");
    if (!lua_isfunction(L, -1)) return luaL_error(L, "the table has no %s method", name ? name : "?");
    lua_replace(L, 2);
    lua_pushvalue(L, 2);
    lua_insert(L, 1);
    lua_remove(L, 3);
    lua_call(L, n - 1, LUA_MULTRET);
    return lua_gettop(L);
}

void gf_pushmethodcaller(lua_State *L) { lua_pushcfunction(L, gf_method_call); }

size_t gf_budget_used(gf_limits *lim) {
    return lim->memory_used + __atomic_load_n(&lim->external_used, __ATOMIC_RELAXED);
}

int gf_fits(gf_limits *lim, size_t bytes) {
    if (!lim->memory_limit) return 1;
    size_t used = gf_budget_used(lim);
    return bytes <= lim->memory_limit && used <= lim->memory_limit - bytes;
}

int gf_charge(gf_limits *lim, size_t bytes) {
    if (!lim->memory_limit) {
        __atomic_add_fetch(&lim->external_used, bytes, __ATOMIC_RELAXED);
        return 0;
    }
    size_t cur = __atomic_load_n(&lim->external_used, __ATOMIC_RELAXED);
    for (;;) {
        /* memory_used is the host thread's; a charge from another thread reads a recent value. */
        size_t heap = lim->memory_used;
        if (bytes > lim->memory_limit || cur + heap > lim->memory_limit - bytes) {
            if (!lim->tripped) lim->tripped = GF_TRIP_MEMORY;
            return -1;
        }
        if (__atomic_compare_exchange_n(&lim->external_used, &cur, cur + bytes, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) return 0;
    }
}

void gf_release(gf_limits *lim, size_t bytes) {
    size_t cur = __atomic_load_n(&lim->external_used, __ATOMIC_RELAXED);
    for (;;) {
        size_t next = bytes > cur ? 0 : cur - bytes;
        if (__atomic_compare_exchange_n(&lim->external_used, &cur, next, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) return;
    }
}
/* The parser runs protected inside lua_load, so the allocator may refuse there: a huge chunk
 * fails with a memory error instead of growing past the budget. */
int gf_loadbuffer(lua_State *L, const char *buf, size_t len, const char *name, const char *mode) {
    gf_limits *lim = gf_limits_of(L);
    lim->protected_depth++;
    int status = luaL_loadbufferx(L, buf, len, name, mode);
    lim->protected_depth--;
    return status;
}
void gf_insert(lua_State *L, int idx) { lua_insert(L, idx); }
void gf_remove(lua_State *L, int idx) { lua_remove(L, idx); }
int gf_isinteger(lua_State *L, int idx) { return lua_isinteger(L, idx); }
void *gf_newuserdata(lua_State *L, size_t size) { return lua_newuserdatauv(L, size, 1); }
void gf_traceback(lua_State *L, lua_State *co, const char *msg, int level) { luaL_traceback(L, co, msg, level); }
void gf_openlibs(lua_State *L) { luaL_openlibs(L); }

/* os.exit([code [, close]]): true is 0, false 1, an integer itself (as the shell sees it, its
 * low 8 bits); the hook raises again should a pcall catch the error, so nothing after it runs. */
static int gf_os_exit(lua_State *L) {
    int code;
    if (lua_isboolean(L, 1)) code = lua_toboolean(L, 1) ? 0 : 1;
    else code = (int)(luaL_optinteger(L, 1, 0) & 0xFF);
    gf_limits *lim = gf_limits_of(L);
    if (lim && !lim->tripped) lim->exit_code = code;
    gf_trip(L, GF_TRIP_EXIT);
    return luaL_error(L, "os.exit(%d)", code);
}

void gf_open_script_exit(lua_State *L) {
    lua_getglobal(L, "os");
    if (lua_istable(L, -1)) {
        lua_pushcfunction(L, gf_os_exit);
        lua_setfield(L, -2, "exit");
    }
    lua_pop(L, 1);
}
