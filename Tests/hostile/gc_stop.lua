-- expect: 1 sandbox: collectgarbage('stop') is not allowed
collectgarbage("stop")
