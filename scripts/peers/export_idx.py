#!/usr/bin/env python3
"""Writes examples/data/digits.csv (scikit-learn's 8×8 digits, see export_digits.py) in the MNIST
IDX format, under MNIST's own file names, so that examples/cnn_digits.lua reads an IDX set the
way it would read MNIST itself:

  python3 scripts/peers/export_idx.py examples/data/digits.csv examples/data/digits-idx

train-images-idx3-ubyte / train-labels-idx1-ubyte: the first 1,438 images (80 %);
t10k-images-idx3-ubyte / t10k-labels-idx1-ubyte: the last 359. Pixels are the set's 0–16 as
unsigned bytes; the header is big-endian, as MNIST's (magic 0x803 for images, 0x801 for labels).
Only the standard library: no NumPy needed.
"""
import csv
import os
import struct
import sys

source, out = sys.argv[1], sys.argv[2]
with open(source, newline="") as f:
    rows = list(csv.reader(f))[1:]
pixels = [[int(v) for v in r[:64]] for r in rows]
labels = [int(r[64]) for r in rows]
cut = round(len(rows) * 0.8)
os.makedirs(out, exist_ok=True)
for prefix, part in (("train", slice(0, cut)), ("t10k", slice(cut, None))):
    images, digits = pixels[part], labels[part]
    with open(os.path.join(out, f"{prefix}-images-idx3-ubyte"), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, len(images), 8, 8))
        f.write(bytes(v for image in images for v in image))
    with open(os.path.join(out, f"{prefix}-labels-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">II", 0x801, len(digits)))
        f.write(bytes(digits))
    print(f"{len(images)} images written to {out}/{prefix}-*")
