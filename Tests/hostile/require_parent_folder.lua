-- expect: 1 module '..etc.passwd' not found
require "..etc.passwd"
