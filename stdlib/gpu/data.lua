-- gpu.data: data sets. Paths are read relative to the working directory, then to the script.
--   data.csv(path, {label = "name" or column number, delimiter = ",", header = true,
--                   missing = "error" | "drop" | "mean", na = {"NA"}})  RFC 4180; text columns
--                   become codes (ds.categories.NAME = {column = n, values = {...}})
--   data.npy(path, {labels = "y.npy"})                  NumPy .npy; without labels the last column is the label
--   data.idx{images = path, labels = path}               IDX (the MNIST format); images flattened per row
--   data.text(path, {level = "char" | "byte", context = 128, stride = context})
--                   next-token windows of a text file: each sample is `context` token ids, its
--                   targets the tokens one position later; ds.vocabulary, ds.vocabulary_size,
--                   ds.context; split (and validation_split) by position, not shuffled
--   data.blobs{samples, features, centers, spread, seed}
--   data.spirals{samples, classes, noise, seed}
--   data.from_table{features = {{...}, ...}, labels = {...}}
-- A data set has rows, cols, classes, source, feature_names, class_names, categories, labels and the methods
-- ds:standardize{using = other}, ds:normalize{using = other} (min-max to [0, 1]) and
-- ds:split{train = 0.8, validation = 0.1, seed = 1}.
local native = require "gpu.native"
return {
  csv = native.data_csv,
  npy = native.data_npy,
  idx = native.data_idx,
  images = native.data_images,
  text = native.data_text,
  blobs = native.data_blobs,
  spirals = native.data_spirals,
  from_table = native.data_from_table,
}
