-- expect: 1 attempt to index a nil value (global 'package')
package.path = "/etc/?"
print(package.searchpath("shadow", "/etc/?"))
