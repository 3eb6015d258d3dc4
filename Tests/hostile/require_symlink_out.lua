-- expect: 1 module 'modules.passwd_link' not found
require "modules.passwd_link"
