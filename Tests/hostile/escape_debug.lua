-- expect: 1 attempt to index a nil value (global 'debug')
debug.sethook()
