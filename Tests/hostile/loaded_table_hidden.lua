-- expect: 1 attempt to index a nil value (global 'package')
print(package.loaded.gpu)
