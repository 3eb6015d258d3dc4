-- expect: 0
-- stdout: 42
print(require("modules.good").answer)
