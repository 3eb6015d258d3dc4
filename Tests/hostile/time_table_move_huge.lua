-- expect: 3 limit exceeded
table.move({}, 1, 1 << 62, 1)
