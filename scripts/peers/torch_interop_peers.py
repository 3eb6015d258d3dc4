#!/usr/bin/env python3
"""PyTorch fixtures for gpuflow's state-dict import and export (committed under
Tests/Fixtures/torch; PyTorch is too large for scripts/test to install).

  make DIR          three PyTorch networks (an MLP with GELU and LayerNorm, a CNN with
                    BatchNorm2d, a grouped convolution and both poolings, a GPT-2-style
                    language model), seeded, their state_dicts saved with safetensors'
                    save_file (DIR/NAME.safetensors), inputs (NAME_inputs.npy) and the
                    outputs PyTorch computes in eval mode (NAME_outputs.npy).
  read-gpuflow DIR  loads DIR/gpuflow_iris.safetensors (a model gpuflow trained and wrote with
                    model:save_state_dict, by scripts/peers/interop_train.lua) into the same
                    architecture in PyTorch with load_state_dict(strict=True) and writes its
                    outputs on ten seeded standardized rows (DIR/gpuflow_iris_inputs.npy) to
                    DIR/gpuflow_iris_torch_outputs.npy.

  pretrain-iris CSV OUT.safetensors
                    the MLP above trained in PyTorch (Adam, 300 full-batch steps, seed 11) on
                    iris standardized as gpuflow's ds:standardize() does (population std): the
                    "pretrained" network examples/pytorch_interop.lua fine-tunes.

  penguins-measurements CSV OUT.csv
                    the penguins' four measurements and species (rows with a missing
                    measurement left out): a related task of iris's shape (4 numbers, 3 classes)
                    to fine-tune the iris network on.

Run with the benchmark venv: .bench-venv-torch/bin/python scripts/peers/torch_interop_peers.py make Tests/Fixtures/torch
"""
import sys

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file


def mlp():
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 16), nn.GELU(), nn.LayerNorm(16), nn.Linear(16, 3))


def cnn():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3, padding=1, groups=4), nn.SiLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(8 * 2 * 2, 3))


class Attention(nn.Module):
    """gpuflow's nn.attention: one fused q/k/v projection, causal, and an output projection."""

    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)

    def forward(self, x):
        n, t, d = x.shape
        h, dh = self.heads, d // self.heads
        q, k, v = self.qkv(x).view(n, t, 3, h, dh).permute(2, 0, 3, 1, 4)
        scores = (q / dh ** 0.5) @ k.transpose(-1, -2)
        scores = scores.masked_fill(torch.triu(torch.ones(t, t, dtype=torch.bool), 1), float("-inf"))
        return self.proj((scores.softmax(-1) @ v).transpose(1, 2).reshape(n, t, d))


class Block(nn.Module):
    """GPT-2's pre-norm block, as gpuflow's nn.transformer_block (GELU in its tanh form)."""

    def __init__(self, d, heads, hidden):
        super().__init__()
        self.ln1, self.attn = nn.LayerNorm(d), Attention(d, heads)
        self.ln2, self.fc, self.gelu, self.out = nn.LayerNorm(d), nn.Linear(d, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, d)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.out(self.gelu(self.fc(self.ln2(x))))


class LanguageModel(nn.Module):
    def __init__(self, tokens=11, d=16, context=8, heads=2):
        super().__init__()
        self.tok, self.pos = nn.Embedding(tokens, d), nn.Embedding(context, d)
        self.block, self.ln_f, self.head = Block(d, heads, 4 * d), nn.LayerNorm(d), nn.Linear(d, tokens)

    def forward(self, ids):
        x = self.tok(ids.long()) + self.pos.weight[: ids.shape[1]]
        return self.head(self.ln_f(self.block(x)))


def save(directory, name, model, x):
    model.eval()
    with torch.no_grad():
        y = model(x)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, f"{directory}/{name}.safetensors")
    np.save(f"{directory}/{name}_inputs.npy", x.numpy().astype(np.float32))
    np.save(f"{directory}/{name}_outputs.npy", y.numpy().astype(np.float32))
    print(name, "state_dict keys:", ", ".join(model.state_dict().keys()))


def make(directory):
    torch.manual_seed(7)
    save(directory, "mlp", mlp(), torch.randn(8, 4))
    torch.manual_seed(8)
    c = cnn()
    # Running statistics that are not the initial 0 and 1: a few batches in training mode.
    c.train()
    with torch.no_grad():
        for _ in range(3):
            c(torch.randn(16, 1, 8, 8) * 2 + 0.5)
    save(directory, "cnn", c, torch.randn(6, 1, 8, 8))
    torch.manual_seed(9)
    save(directory, "lm", LanguageModel(), torch.randint(0, 11, (4, 8)).float())


def read_gpuflow(directory):
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    model.load_state_dict(load_file(f"{directory}/gpuflow_iris.safetensors"), strict=True)
    model.eval()
    x = np.random.default_rng(5).standard_normal((10, 4)).astype(np.float32)  # standardized rows
    np.save(f"{directory}/gpuflow_iris_inputs.npy", x)
    x = torch.from_numpy(x)
    with torch.no_grad():
        np.save(f"{directory}/gpuflow_iris_torch_outputs.npy", model(x).numpy().astype(np.float32))
    print("PyTorch read gpuflow_iris.safetensors:", ", ".join(f"{k} {list(v.shape)}" for k, v in model.state_dict().items()))


def pretrain_iris(csv, out):
    table = np.loadtxt(csv, delimiter=",", skiprows=1, dtype=np.float64)
    x, y = table[:, :4], table[:, 4].astype(np.int64)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    torch.manual_seed(11)
    model = mlp()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    xt, yt = torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y)
    for _ in range(300):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(xt).argmax(1) == yt).float().mean().item()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out)
    print(f"pretrained on iris in PyTorch {torch.__version__}: loss {loss.item():.4f}, accuracy {accuracy:.3f} -> {out}")


def penguins_measurements(csv, out):
    import csv as csvlib
    columns = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "species"]
    with open(csv, newline="") as f, open(out, "w", newline="") as g:
        w = csvlib.writer(g, lineterminator="\n")
        w.writerow(columns)
        kept = 0
        for row in csvlib.DictReader(f):
            if all(row[c] not in ("", "NA") for c in columns):
                w.writerow([row[c] for c in columns])
                kept += 1
    print(f"{kept} rows -> {out}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "penguins-measurements":
        penguins_measurements(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "pretrain-iris":
        pretrain_iris(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] in ("make", "read-gpuflow"):
        {"make": make, "read-gpuflow": read_gpuflow}[sys.argv[1]](sys.argv[2])
    else:
        sys.exit(__doc__)
