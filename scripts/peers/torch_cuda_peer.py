"""PyTorch on CUDA as the GPU check's peer (scripts/gpu-check, section "PyTorch on CUDA").

`check`: exits 0 when torch imports and sees a CUDA device, else prints why and exits 3.
`peak`: the GPU's FP32 (non-tensor) peak in TFLOP/s and where the figure comes from, one line
  "TFLOPS<TAB>SOURCE": computed from the SM count (torch) × FP32 lanes per SM (by compute
  capability) × 2 × the highest SM clock (nvidia-smi clocks.max.sm); else a table of datasheet
  figures by name; else "nan<TAB>unknown GPU".
`gemm N...`: float32 square C = A·B, TF32 off (a true FP32 product, the same arithmetic gpuflow's
  kernel does), median of timed runs after a warm-up; one line "n<TAB>seconds" per size.
`mlp DIR EPOCHS`: the MLP benchmark's network (64-128-64-10, ReLU, Adam 1e-3, batch 64, as in
  mlp_peers.py) on DIR's digits; per epoch "epoch train_seconds test_accuracy".
`compare-gemm GPUFLOW_TSV TORCH_TSV PEAK_FILE` and `compare-mlp GPUFLOW TORCH`: the tables.
"""
import statistics
import subprocess
import sys
import time

# FP32 lanes per SM by compute capability (NVIDIA's CUDA C++ Programming Guide, "Arithmetic
# Instructions": 32-bit floating-point add, multiply, multiply-add results per clock per SM).
FP32_LANES = {(7, 0): 64, (7, 5): 64, (8, 0): 64, (8, 6): 128, (8, 7): 128, (8, 9): 128, (9, 0): 128,
              (10, 0): 128, (12, 0): 128}
# Datasheet FP32 (non-tensor) peaks in TFLOP/s, by a substring of the name nvidia-smi reports.
DATASHEET = [("H200", 67.0), ("H100 PCIe", 51.2), ("H100", 67.0), ("A100", 19.5), ("L40S", 91.6), ("L4", 30.3),
             ("A10", 31.2), ("V100", 15.7), ("T4", 8.1)]


def check():
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - any import failure means no peer
        print(f"PyTorch is not installed here ({e})")
        sys.exit(3)
    if not torch.cuda.is_available():
        print(f"PyTorch {torch.__version__} sees no CUDA device")
        sys.exit(3)


def nvidia_smi(field):
    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={field}", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=30)
        return out.stdout.splitlines()[0].strip() if out.returncode == 0 and out.stdout else None
    except (OSError, subprocess.SubprocessError):
        return None


def peak():
    import torch
    p = torch.cuda.get_device_properties(0)
    lanes = FP32_LANES.get((p.major, p.minor))
    clock = nvidia_smi("clocks.max.sm")
    if lanes and clock and clock.replace(".", "").isdigit():
        tflops = p.multi_processor_count * lanes * 2 * float(clock) * 1e6 / 1e12
        print(f"{tflops:.1f}\tcomputed: {p.multi_processor_count} SMs (torch) × {lanes} FP32 lanes (sm_{p.major}{p.minor}) × 2 × "
              f"{clock} MHz (nvidia-smi clocks.max.sm)")
        return
    name = nvidia_smi("name") or p.name
    for key, tflops in DATASHEET:
        if key in name:
            print(f"{tflops:.1f}\tdatasheet table in torch_cuda_peer.py for {name}")
            return
    print(f"nan\tunknown GPU {name}")


def gemm(sizes):
    import torch
    torch.backends.cuda.matmul.allow_tf32 = False
    for n in sizes:
        g = torch.Generator(device="cuda").manual_seed(n)
        a = torch.rand(n, n, device="cuda", generator=g) - 0.5
        b = torch.rand(n, n, device="cuda", generator=g) - 0.5
        reps = 5 if n <= 256 else 3
        times = []
        for i in range(reps + 1):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            torch.mm(a, b)
            end.record()
            torch.cuda.synchronize()
            if i > 0:
                times.append(start.elapsed_time(end) / 1e3)
        print(f"{n}\t{statistics.median(times):.9f}", flush=True)


def mlp(d, epochs):
    import numpy as np
    import torch
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.manual_seed(0)
    xtr, ytr, xte, yte = [np.load(f"{d}/{n}.npy") for n in ("x_train", "y_train", "x_test", "y_test")]
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 64), torch.nn.ReLU(),
                                torch.nn.Linear(64, 10)).cuda()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.from_numpy(xtr).cuda(), torch.from_numpy(ytr).cuda()
    xt, yt = torch.from_numpy(xte).cuda(), torch.from_numpy(yte).cuda()
    rng = np.random.default_rng(0)
    loss_fn = torch.nn.CrossEntropyLoss()
    for e in range(1, epochs + 1):
        order = torch.from_numpy(rng.permutation(len(xtr))).cuda()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for s in range(0, len(order), 64):
            idx = order[s:s + 64]
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x[idx]), y[idx]).backward()
            opt.step()
        torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        with torch.no_grad():
            acc = (model(xt).argmax(1) == yt).float().mean().item()
        print(e, f"{dt:.6f}", f"{acc:.6f}", flush=True)


def read_rows(path):
    with open(path) as f:
        return [line.split() for line in f if line.strip()]


def compare_gemm(gpuflow_tsv, torch_tsv, peak_file):
    peak_line = open(peak_file).read().strip().split("\t")
    tflops, source = float(peak_line[0]), peak_line[1]
    print(f"FP32 peak: {tflops:.1f} TFLOP/s ({source})")
    torch_s = {int(r[0]): float(r[1]) for r in read_rows(torch_tsv)}
    print(f"{'n':>6} {'gpuflow kernel':>16} {'gpuflow wall':>14} {'torch':>14} {'kernel/torch':>13} {'wall/torch':>11} "
          f"{'kernel/peak':>12} {'torch/peak':>11}")
    for r in read_rows(gpuflow_tsv):
        n, flops = int(r[0]), 2.0 * int(r[0]) ** 3
        wall, kernel = flops / float(r[1]) / 1e9, (flops / float(r[2]) / 1e9 if r[2] != "nan" else float("nan"))
        t = flops / torch_s[n] / 1e9 if n in torch_s else float("nan")
        pk = tflops * 1e3
        print(f"{n:>6} {kernel:>10.1f} GF/s {wall:>8.1f} GF/s {t:>8.1f} GF/s {kernel / t:>13.2f} {wall / t:>11.2f} "
              f"{kernel / pk:>11.2%} {t / pk:>11.2%}")


def compare_mlp(gpuflow_file, torch_file):
    g, t = read_rows(gpuflow_file), read_rows(torch_file)
    # The first epoch holds one-off work (pipeline creation, CUDA kernels' first launch): left out.
    gs = sum(float(r[1]) for r in g[1:]) / max(1, len(g) - 1)
    ts = sum(float(r[1]) for r in t[1:]) / max(1, len(t) - 1)
    print(f"MLP 64-128-64-10 on digits, {len(g)} epochs, batch 64, Adam 1e-3 (mean epoch after the first)")
    print(f"  gpuflow vulkan: {gs * 1e3:8.2f} ms/epoch, test accuracy {float(g[-1][2]):.3f}")
    print(f"  torch cuda:     {ts * 1e3:8.2f} ms/epoch, test accuracy {float(t[-1][2]):.3f}")
    print(f"  gpuflow/torch time: {gs / ts:.2f}×")


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "check":
        check()
    elif cmd == "peak":
        peak()
    elif cmd == "gemm":
        gemm([int(s) for s in sys.argv[2:]])
    elif cmd == "mlp":
        mlp(sys.argv[2], int(sys.argv[3]))
    elif cmd == "compare-gemm":
        compare_gemm(*sys.argv[2:5])
    elif cmd == "compare-mlp":
        compare_mlp(*sys.argv[2:4])
    else:
        print("usage: torch_cuda_peer.py check | peak | gemm N... | mlp DIR EPOCHS | compare-gemm G T PEAK | compare-mlp G T",
              file=sys.stderr)
        sys.exit(2)
