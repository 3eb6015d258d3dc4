#!/usr/bin/env python3
"""The image and sequence benchmark rows (issue 17): the CNN of examples/cnn_digits.lua on the
8×8 digits and the character transformer of examples/char_transformer.lua on the fortunes,
trained by PyTorch on the CPU with the same rows, architecture, epochs, batch size and optimizer
as scripts/bench-lua/train_cnn.lua and train_transformer.lua train them through `gpuflow run`.

  prepare-digits CSV DIR     DIR/train.csv and DIR/test.csv: every fifth image held out
  cnn DIR EPOCHS WIDTH       prints "seconds<TAB>test_accuracy<TAB>images_per_sec"
  transformer TEXT EPOCHS    prints "seconds<TAB>validation_loss<TAB>tokens_per_sec<TAB>generated_tokens_per_sec"
  check                      exits 0 when torch imports, else prints why and exits 3.

Both sides standardize the digits with the training images' per-pixel mean and population
standard deviation (a constant pixel gets 1), read the text as non-overlapping windows of 64
characters over the code-point-sorted vocabulary, and hold out the last 10 % of the windows.
"""
import csv
import math
import sys
import time


def prepare_digits(path, out):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    for name, part in (("train", [r for i, r in enumerate(rows) if i % 5 != 4]), ("test", [r for i, r in enumerate(rows) if i % 5 == 4])):
        with open(f"{out}/{name}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(part)


def load_digits(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))[1:]
    return [[float(v) for v in r[:-1]] for r in rows], [int(r[-1]) for r in rows]


def cnn(d, epochs, width):
    import torch
    import torch.nn as nn

    torch.manual_seed(1)
    xtr, ytr = load_digits(f"{d}/train.csv")
    xte, yte = load_digits(f"{d}/test.csv")
    xtr, xte = torch.tensor(xtr), torch.tensor(xte)
    mean, std = xtr.mean(0), xtr.std(0, unbiased=False)
    std = torch.where(std > 1e-12, std, torch.ones_like(std))
    xtr, xte = ((xtr - mean) / std).view(-1, 1, 8, 8), ((xte - mean) / std).view(-1, 1, 8, 8)
    ytr, yte = torch.tensor(ytr), torch.tensor(yte)
    net = nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.Flatten(),
        nn.Linear(2 * width * 16, 10))
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    loss_fn = nn.CrossEntropyLoss()
    t0 = time.perf_counter()
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(len(xtr))
        for i in range(0, len(xtr), 32):
            idx = perm[i:i + 32]
            opt.zero_grad()
            loss_fn(net(xtr[idx]), ytr[idx]).backward()
            opt.step()
    seconds = time.perf_counter() - t0
    net.eval()
    with torch.no_grad():
        acc = (net(xte).argmax(1) == yte).float().mean().item()
    print(f"{seconds:.6f}\t{acc:.6f}\t{len(xtr) * epochs / seconds:.1f}")


def transformer(path, epochs):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.manual_seed(1)
    text = open(path, encoding="utf-8").read()
    vocab = sorted(set(text))
    index = {c: i for i, c in enumerate(vocab)}
    ids = torch.tensor([index[c] for c in text])
    T, D, H = 64, 32, 4
    rows = (len(ids) - T - 1) // T + 1
    x = torch.stack([ids[r * T:r * T + T] for r in range(rows)])
    y = torch.stack([ids[r * T + 1:r * T + T + 1] for r in range(rows)])
    n_train = round(rows * 0.9)
    xtr, ytr, xva, yva = x[:n_train], y[:n_train], x[n_train:], y[n_train:]

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
            self.register_buffer("mask", torch.triu(torch.full((T, T), float("-inf")), 1))

        def forward(self, h):
            b = h.shape[0]
            q, k, v = self.qkv(h).view(b, T, 3, H, D // H).permute(2, 0, 3, 1, 4)
            a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D // H) + self.mask, -1)
            return self.proj((a @ v).transpose(1, 2).reshape(b, T, D))

    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok, self.pos = nn.Embedding(len(vocab), D), nn.Parameter(torch.randn(T, D) * 0.02)
            self.ln1, self.attn, self.ln2 = nn.LayerNorm(D), Attention(), nn.LayerNorm(D)
            self.mlp = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(approximate="tanh"), nn.Linear(4 * D, D))
            self.norm, self.head = nn.LayerNorm(D), nn.Linear(D, len(vocab))

        def forward(self, t):
            h = self.tok(t) + self.pos
            h = h + self.attn(self.ln1(h))
            h = h + self.mlp(self.ln2(h))
            return self.head(self.norm(h))

    net = LM()
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    t0 = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(len(xtr))
        for i in range(0, len(xtr), 32):
            idx = perm[i:i + 32]
            opt.zero_grad()
            F.cross_entropy(net(xtr[idx]).reshape(-1, len(vocab)), ytr[idx].reshape(-1)).backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        val = F.cross_entropy(net(xva).reshape(-1, len(vocab)), yva.reshape(-1)).item()
        # Generation as gpuflow does it: a whole forward pass per token over the window, padded on the right.
        gen = [index[c] for c in "A man "]
        g = torch.Generator().manual_seed(1)
        g0 = time.perf_counter()
        for _ in range(200):
            window = gen[-T:]
            t = torch.tensor(window + [0] * (T - len(window))).view(1, T)
            logits = net(t)[0, len(window) - 1] / 0.8
            top = torch.topk(logits, 10)
            gen.append(top.indices[torch.multinomial(torch.softmax(top.values, -1), 1, generator=g)].item())
        gen_rate = 200 / (time.perf_counter() - g0)
    print(f"{seconds:.6f}\t{val:.6f}\t{len(xtr) * T * epochs / seconds:.1f}\t{gen_rate:.1f}")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "prepare-digits":
        prepare_digits(sys.argv[2], sys.argv[3])
    elif cmd == "cnn":
        cnn(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "transformer":
        transformer(sys.argv[2], int(sys.argv[3]))
    elif cmd == "check":
        try:
            import torch  # noqa: F401
        except Exception as e:  # noqa: BLE001
            print(f"PyTorch is not installed here ({e})")
            sys.exit(3)
    else:
        sys.exit(f"unknown command {cmd}")
