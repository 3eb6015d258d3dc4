-- expect: 1 requires itself (a loop)
require "modules.loop_a"
