return require "modules.loop_b"
