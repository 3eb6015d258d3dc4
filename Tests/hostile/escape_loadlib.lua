-- expect: 1 attempt to call a nil value (field 'loadlib')
package.loadlib("libc.so.6", "system")
