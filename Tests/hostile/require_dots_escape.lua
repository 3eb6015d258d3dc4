-- expect: 1 module 'modules..passwd' not found
require "modules..passwd"
