-- expect: 1 sandbox: os is read-only (cannot set 'execute')
rawset(os, "execute", print)
