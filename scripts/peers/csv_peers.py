"""The CSV loading row of the benchmark suite: a seeded numeric table and pandas' side.

  python csv_peers.py prepare PATH [ROWS]   write ROWS (default 1,000,000) × 21 columns: x1..x20
                                            (normal, 5 decimals) and an integer class label
  python csv_peers.py pandas PATH           pandas.read_csv(PATH) into float32 features and labels;
                                            prints rows and columns (timed as a whole process)

The file is generated, never committed: 1,000,000 rows are about 178 MB.
"""
import sys


def prepare(path, rows):
    import numpy as np
    rng = np.random.default_rng(15)
    chunk = 100_000
    with open(path, "w") as f:
        f.write(",".join([f"x{i + 1}" for i in range(20)] + ["label"]) + "\n")
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            x = rng.standard_normal((n, 20))
            y = (x[:, :3].sum(axis=1) > 0).astype(int) + (x[:, 3] > 1).astype(int)  # 3 classes
            lines = [",".join(f"{v:.5f}" for v in r) + f",{c}" for r, c in zip(x.tolist(), y.tolist())]
            f.write("\n".join(lines) + "\n")


def load(path):
    import pandas as pd
    frame = pd.read_csv(path)
    x = frame.iloc[:, :-1].to_numpy(dtype="float32")
    y = frame.iloc[:, -1].to_numpy(dtype="float32")
    print(f"{x.shape[0]}\t{x.shape[1]}\t{int(y.max()) + 1}")


if __name__ == "__main__":
    if sys.argv[1] == "prepare":
        prepare(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 1_000_000)
    elif sys.argv[1] == "pandas":
        load(sys.argv[2])
    else:
        sys.exit(f"unknown command {sys.argv[1]}: prepare PATH [ROWS] | pandas PATH")
