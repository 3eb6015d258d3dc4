-- expect: 1 sandbox: the coordination of a run is set by its profile
local gpu = require "gpu"
gpu.coordinate{agents = {"alice", "mallory"}, pattern = gpu.pipeline{stages = {"alice", "mallory"}}}
