-- expect: 1 module 'socket.core' not found
require "socket.core"
