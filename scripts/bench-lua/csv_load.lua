-- CSV loading on the user's path: `gpuflow run csv_load.lua -- FILE` reads FILE with data.csv
-- (label = the last column) and prints rows, features and classes, as csv_peers.py does.
local ds = require("gpu.data").csv(arg[1])
print(("%d\t%d\t%d"):format(ds.rows, ds.cols, ds.classes or 0))
