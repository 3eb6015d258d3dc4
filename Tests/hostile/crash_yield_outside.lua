-- expect: 1 coroutine.yield was called outside a coroutine
coroutine.yield(1, 2, 3)
