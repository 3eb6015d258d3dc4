#!/usr/bin/env python3
"""Exports scikit-learn's 8×8 digits (load_digits: 1,797 images of handwritten digits, pixel
values 0–16, from the UCI "Optical Recognition of Handwritten Digits" set) to a CSV that
examples/cnn_digits.lua reads: columns p0..p63 (row-major pixels) and `digit`.

  .bench-venv/bin/python scripts/peers/export_digits.py examples/data/digits.csv

(scripts/bench makes .bench-venv with scikit-learn; any Python with scikit-learn will do.)
"""
import csv
import sys

from sklearn.datasets import load_digits

d = load_digits()
with open(sys.argv[1], "w", newline="") as f:
    w = csv.writer(f)
    w.writerow([f"p{i}" for i in range(64)] + ["digit"])
    for x, y in zip(d.data, d.target):
        w.writerow([int(v) for v in x] + [int(y)])
print(f"{len(d.target)} images written to {sys.argv[1]}")
