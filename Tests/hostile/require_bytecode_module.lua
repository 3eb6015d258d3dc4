-- expect: 1 is a binary chunk; the sandbox loads text only
require "modules.bytecode_mod"
