-- expect: 1 sandbox: load accepts text chunks only
load("return 1", "chunk", "b")
