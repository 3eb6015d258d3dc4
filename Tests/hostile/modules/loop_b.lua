return require "modules.loop_a"
