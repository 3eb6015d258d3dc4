-- expect: 1 module 'gpu.native' not found
require "gpu.prelude"
