#!/usr/bin/env python3
"""The graph-model benchmark row (issue 16): the residual network with embeddings of
examples/tabular_embeddings.lua on the penguins CSV, trained by gpuflow and by PyTorch on the
same rows with the same architecture, epochs, batch size and optimizer.

  prepare CSV DIR      DIR/train.csv and DIR/test.csv: rows with a missing cell dropped (as
                       data.csv's missing = "drop"), every fifth row held out for the test;
                       each file sorted by its text columns, so both meet every island and sex
                       value in the same (alphabetical) order and gpuflow gives them the same codes.
  torch DIR EPOCHS     PyTorch on the CPU: prints "seconds<TAB>test_accuracy<TAB>epochs".
  check                exits 0 when torch imports, else prints why and exits 3.
"""
import csv
import sys
import time

TEXT = ["island", "sex"]
LABEL = "species"


def prepare(path, out):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    header = list(rows[0].keys())
    rows = [r for r in rows if all(v not in ("", "NA") for v in r.values())]
    test = [r for i, r in enumerate(rows) if i % 5 == 4]
    train = [r for i, r in enumerate(rows) if i % 5 != 4]
    for name, part in (("train", train), ("test", test)):
        part.sort(key=lambda r: tuple(r[c] for c in TEXT))
        with open(f"{out}/{name}.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=header)
            w.writeheader()
            w.writerows(part)
    print(f"{len(train)}\t{len(test)}")


def load(path, vocab=None, labels=None):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    features = [c for c in rows[0].keys() if c != LABEL]
    vocab = vocab or {c: sorted({r[c] for r in rows}) for c in TEXT}
    labels = labels or sorted({r[LABEL] for r in rows}, key=[r[LABEL] for r in rows].index)
    x = [[float(vocab[c].index(r[c])) if c in TEXT else float(r[c]) for c in features] for r in rows]
    y = [labels.index(r[LABEL]) for r in rows]
    return features, x, y, vocab, labels


def torch_run(d, epochs):
    import torch
    import torch.nn as nn

    torch.manual_seed(1)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    features, xtr, ytr, vocab, labels = load(f"{d}/train.csv")
    _, xte, yte, _, _ = load(f"{d}/test.csv", vocab, labels)
    text = [features.index(c) for c in TEXT]
    numeric = [i for i in range(len(features)) if i not in text]
    xtr, xte = torch.tensor(xtr), torch.tensor(xte)
    mean, std = xtr[:, numeric].mean(0), xtr[:, numeric].std(0, unbiased=False).clamp_min(1e-12)
    for x in (xtr, xte):  # standardized with the training rows' statistics, codes left as they are
        x[:, numeric] = (x[:, numeric] - mean) / std
    ytr, yte = torch.tensor(ytr), torch.tensor(yte)
    width, dims = 32, 3

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.tables = nn.ModuleList(nn.Embedding(len(vocab[c]), dims) for c in TEXT)
            self.linear1 = nn.Linear(len(numeric) + dims * len(TEXT), width)
            self.norm = nn.LayerNorm(width)
            self.drop = nn.Dropout(0.1)
            self.linear2 = nn.Linear(width, width)
            self.head = nn.Linear(width, len(labels))

        def forward(self, x):
            # Columns in order, each text column replaced by its learned vector (gpuflow's embedding).
            parts = []
            for i in range(x.shape[1]):
                if i in text:
                    parts.append(self.tables[text.index(i)](x[:, i].long()))
                else:
                    parts.append(x[:, i:i + 1])
            h = self.drop(nn.functional.gelu(self.norm(self.linear1(torch.cat(parts, 1)))))
            h = h + torch.relu(self.linear2(h))
            return self.head(h)

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    for _ in range(epochs):
        net.train()
        order = torch.randperm(len(ytr))
        for b in range(0, len(ytr), 32):
            idx = order[b:b + 32]
            opt.zero_grad()
            loss_fn(net(xtr[idx]), ytr[idx]).backward()
            opt.step()
    seconds = time.perf_counter() - start
    net.eval()
    with torch.no_grad():
        accuracy = (net(xte).argmax(1) == yte).float().mean().item()
    print(f"{seconds:.6f}\t{accuracy:.6f}\t{epochs}")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "prepare":
        prepare(sys.argv[2], sys.argv[3])
    elif cmd == "torch":
        torch_run(sys.argv[2], int(sys.argv[3]))
    elif cmd == "check":
        try:
            import torch  # noqa: F401
        except Exception as e:  # an import error, or CUDA libraries it cannot find
            print(f"PyTorch does not import: {e}")
            sys.exit(3)
    else:
        sys.exit(f"unknown command {cmd}")
