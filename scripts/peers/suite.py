"""The benchmark suite of scripts/bench: gpuflow and each peer on the same work, in alternation,
rounds times; medians, spread (min–max) and the ratio to each peer; written as
bench-out/benchmarks.json and BENCHMARKS.md. Every figure comes from this run.

  python suite.py ROOT PYTHON [--quick]

ROOT is the repository; PYTHON the virtual environment's interpreter (numpy, scikit-learn, jax,
wgpu, ray). gpuflow's side runs through .build/release/gpuflow-bench and .build/release/gpuflow.
"""
import datetime
import re
import json
import os
import platform
import statistics
import subprocess
import sys
import shutil
import resource
import tempfile
import time

ROOT, PY = sys.argv[1], sys.argv[2]
QUICK = "--quick" in sys.argv
GPU = "--gpu" in sys.argv
# The device's FP32 peak for GEMM's fraction of it: GPUFLOW_PEAK_TFLOPS, else known devices.
PEAK_TFLOPS = float(os.environ.get("GPUFLOW_PEAK_TFLOPS", "0")) or None
BENCH = f"{ROOT}/.build/release/gpuflow-bench"
GPUFLOW = f"{ROOT}/.build/release/gpuflow"
PEERS = f"{ROOT}/scripts/peers/suite_peers.py"
ROUNDS = 3 if QUICK else 5
rows = []


def run(cmd, **kw):
    out = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {out.stderr.strip()[-400:]}")
    return [line.split("\t") for line in out.stdout.strip().splitlines() if line.strip()]


def summary(xs):
    xs = [x for x in xs if x == x]
    if not xs:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def row(group, name, unit, better, gpuflow, peers, target=None, note="", verdict=None, unmeasurable=None):
    """gpuflow: {label: [values]}; peers: {label: [values]}; better: 'lower' or 'higher'.
    verdict(ratios, medians) -> True/False says whether the target is met (None: not judged).
    unmeasurable: why this machine cannot test the target (a GPU figure on lavapipe): the row
    is shown, and its target is "not measurable here", never met or missed."""
    g = {k: summary(v) for k, v in gpuflow.items()}
    p = {k: summary(v) for k, v in peers.items()}
    ratios = {}
    for gl, gs in g.items():
        for pl, ps in p.items():
            if gs["median"] and ps["median"]:
                # Above 1 means gpuflow is ahead, whichever way the unit runs.
                ratios[f"{gl} vs {pl}"] = ps["median"] / gs["median"] if better == "lower" else gs["median"] / ps["median"]
    medians = {k: v["median"] for k, v in list(g.items()) + list(p.items())}
    met = None
    if unmeasurable:
        verdict = None
        note = (note + "; " if note else "") + "not measurable here: " + unmeasurable
    if verdict:
        try:
            v = verdict(ratios, medians)
            met = None if v is None else bool(v)
        except (TypeError, KeyError, ZeroDivisionError):
            met = None  # a side is unavailable: the target cannot be judged
    rows.append({"group": group, "name": name, "unit": unit, "better": better, "gpuflow": g, "peers": p, "ratios": ratios,
                 "target": target, "met": met, "note": note, "unmeasurable": bool(unmeasurable)})
    print(f"{group} | {name}: " + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items()), flush=True)


def alternate(sides, rounds=None):
    """sides: {label: callable returning one value or a dict of values}; run in turn, ROUNDS
    times (or `rounds`: a row judging a small effect needs more pairs than its spread)."""
    got = {k: [] for k in sides}
    for _ in range(rounds or ROUNDS):
        for k, f in sides.items():
            got[k].append(f())
    return got


def split(got, key):
    return {k: [v[key] if isinstance(v, dict) else v for v in vs] for k, vs in got.items()}


def train(cmd):
    lines = [[float(x) for x in l[0].split()] for l in run(cmd)]
    return {"seconds": sum(l[1] for l in lines), "accuracy": lines[-1][2]}


MLP = f"{ROOT}/scripts/peers/mlp_peers.py"
INFER_ROWS = "16384"  # 16 batches of 1,024: enough samples for a p99


def vulkan_gemm_row(n, note):
    """Row 1's n×n GEMM on gpuflow's Vulkan backend against the same register-blocked algorithm
    in WGSL through wgpu on the same device; note(medians by side) completes the row's name."""
    flop = 2.0 * n ** 3
    got = alternate({
        "gpuflow vulkan": lambda: flop / float(run([BENCH, "gemm", str(n), "--tsv"])[0][1]) / 1e9,
        "wgpu": lambda: flop / float(run([PY, f"{ROOT}/scripts/peers/wgpu_gemm.py", "--kernel", "blocked", str(n)])[0][0].split()[1]) / 1e9,
    })
    row("1. GEMM (Vulkan)", f"{n}×{n}", "GFLOP/s", "higher", {"gpuflow vulkan": got["gpuflow vulkan"]}, {"wgpu": got["wgpu"]},
        target="Vulkan ≥ 1.0× wgpu", verdict=lambda r, m: r["gpuflow vulkan vs wgpu"] >= 1.0, note=note(got))


def mlp_training(sides):
    """Row 2's MLP trained by each named side in alternation: (epochs, {side: [{seconds, accuracy}]})."""
    data = tempfile.mkdtemp()
    run([PY, MLP, "prepare", data])
    epochs = "10" if QUICK else "30"
    commands = {"gpuflow simd": [BENCH, "mlp", data, epochs, "simd"], "gpuflow vulkan": [BENCH, "mlp", data, epochs, "vulkan"],
                "scikit-learn": [PY, MLP, "sklearn", data, epochs], "jax (jit)": [PY, MLP, "jax", data, epochs]}
    store = tempfile.mkdtemp()

    def lua(backend):
        # The user's path: `gpuflow run` of a Lua script with the default store (in a fresh data
        # directory), training seconds as the script measures them around its await.
        r = run([GPUFLOW, "run", f"{ROOT}/scripts/bench-lua/train_mlp.lua", "--backend", backend, "--quiet", "--", data, epochs],
                env=dict(os.environ, GPUFLOW_DATA_DIR=store))[-1]
        return {"seconds": float(r[0]), "accuracy": float(r[1])}
    sides_of = {k: (lambda c=commands[k]: train(c)) for k in sides if k in commands}
    if "gpuflow run (lua, simd)" in sides:
        sides_of["gpuflow run (lua, simd)"] = lambda: lua("simd")
    return epochs, alternate(sides_of)


def inference(sides, batch):
    """Row 3's network over INFER_ROWS rows at `batch`, each named side in alternation:
    {side: [{throughput, p99}]}."""
    commands = {"gpuflow simd": [BENCH, "infer", "simd"], "gpuflow vulkan": [BENCH, "infer", "vulkan"],
                "numpy": [PY, PEERS, "infer", "numpy"], "jax (jit)": [PY, PEERS, "infer", "jax"]}

    def side(cmd):
        r = run(cmd + [INFER_ROWS, batch])[0]
        return {"throughput": float(r[1]), "p99": float(r[2])}
    return alternate({k: (lambda c=commands[k]: side(c)) for k in sides})


def vulkan_is_cpu():
    """Whether this machine's Vulkan device is a CPU implementation (lavapipe): then a claim
    about GPU speed cannot be tested here."""
    try:
        out = subprocess.run([GPUFLOW, "devices"], capture_output=True, text=True).stdout.lower()
    except OSError:
        return True
    return "llvmpipe" in out or "lavapipe" in out or "type cpu" in out or " cpu " in out


TABULAR = f"{ROOT}/scripts/peers/tabular_peers.py"
# PyTorch lives in a virtual environment of its own (scripts/bench makes it: 5 GB with the CUDA
# libraries PyPI's wheel needs even on a CPU); unset or failing to import, its side is unavailable.
TORCH_PY = os.environ.get("GPUFLOW_TORCH_PY", "")


def tabular_rows():
    """Row 2c: examples/tabular_embeddings.lua's residual network with embeddings on the penguins
    CSV, trained through `gpuflow run` (SIMD, and Vulkan) and by PyTorch on the CPU, same rows,
    architecture, epochs, batch size and optimizer: training seconds and test accuracy."""
    data = tempfile.mkdtemp()
    run([PY, TABULAR, "prepare", f"{ROOT}/../shared/data/penguins.csv", data])
    epochs = "20" if QUICK else "40"
    store = tempfile.mkdtemp()

    def lua(backend):
        r = run([GPUFLOW, "run", f"{ROOT}/scripts/bench-lua/train_tabular.lua", "--backend", backend, "--quiet", "--", data, epochs],
                env=dict(os.environ, GPUFLOW_DATA_DIR=store))[-1]
        return {"seconds": float(r[0]), "accuracy": float(r[1])}

    sides = {"gpuflow run (lua, simd)": lambda: lua("simd"), "gpuflow run (lua, vulkan)": lambda: lua("vulkan")}
    why = None
    if not TORCH_PY:
        why = "PyTorch is not installed (GPUFLOW_TORCH_PY unset)"
    else:
        check = subprocess.run([TORCH_PY, TABULAR, "check"], capture_output=True, text=True)
        if check.returncode != 0:
            why = check.stdout.strip() or check.stderr.strip()[-200:]
    if why is None:
        sides["pytorch (cpu)"] = lambda: train_torch(data, epochs)
    got = alternate(sides)
    acc, secs = split(got, "accuracy"), split(got, "seconds")
    ours = [k for k in secs if k.startswith("gpuflow")]
    note = ("final test accuracy (66 held-out rows): " + ", ".join(f"{k} {statistics.median(v):.4f}" for k, v in acc.items())
            + "; PyTorch is PyPI's wheel (built with CUDA) running on the CPU: the CPU-only index is not reachable here")
    if why:
        note += f"; pytorch: unavailable ({why})"
    row("2c. Graph training", f"tabular_embeddings' network, penguins, {epochs} epochs, train seconds", "s", "lower",
        {k: secs[k] for k in ours}, {k: v for k, v in secs.items() if k not in ours},
        target="SIMD at least as fast as PyTorch at equal accuracy (within 1 point)",
        verdict=lambda r, m: r["gpuflow run (lua, simd) vs pytorch (cpu)"] >= 1
        and statistics.median(acc["gpuflow run (lua, simd)"]) >= statistics.median(acc["pytorch (cpu)"]) - 0.01,
        note=note)


IMAGE_TEXT = f"{ROOT}/scripts/peers/image_text_peers.py"


def torch_available(script):
    """None when PyTorch imports in its environment, else why not."""
    if not TORCH_PY:
        return "PyTorch is not installed (GPUFLOW_TORCH_PY unset)"
    check = subprocess.run([TORCH_PY, script, "check"], capture_output=True, text=True)
    return None if check.returncode == 0 else (check.stdout.strip() or check.stderr.strip()[-200:])


def image_text_rows():
    """Rows 2d–2e (issue 17): examples/cnn_digits.lua's CNN on the 8×8 digits and
    examples/char_transformer.lua's transformer on the fortunes, through `gpuflow run` (SIMD
    and Vulkan) and in PyTorch on the CPU, same rows, architecture, epochs, batch and optimizer."""
    digits = tempfile.mkdtemp()
    run([PY, IMAGE_TEXT, "prepare-digits", f"{ROOT}/examples/data/digits.csv", digits])
    why = torch_available(IMAGE_TEXT)
    store = tempfile.mkdtemp()
    env = dict(os.environ, GPUFLOW_DATA_DIR=store)
    epochs, width = ("5" if QUICK else "15"), "8"

    def cnn(backend):
        r = run([GPUFLOW, "run", f"{ROOT}/scripts/bench-lua/train_cnn.lua", "--backend", backend, "--quiet", "--", digits, epochs, width],
                env=env)[-1]
        return {"rate": float(r[2]), "accuracy": float(r[1])}

    sides = {"gpuflow run (lua, simd)": lambda: cnn("simd"), "gpuflow run (lua, vulkan)": lambda: cnn("vulkan")}
    if why is None:
        sides["pytorch (cpu)"] = lambda: (lambda r: {"rate": float(r[2]), "accuracy": float(r[1])})(
            run([TORCH_PY, IMAGE_TEXT, "cnn", digits, epochs, width])[-1])
    got = alternate(sides)
    acc, rate = split(got, "accuracy"), split(got, "rate")
    ours = [k for k in rate if k.startswith("gpuflow")]
    note = f"width {width}, test accuracy on 359 held-out images after {epochs} epochs: " + ", ".join(
        f"{k} {statistics.median(v):.4f}" for k, v in acc.items())
    if why:
        note += f"; pytorch: unavailable ({why})"
    row("2d. CNN training", f"cnn_digits' network, 8×8 digits, {epochs} epochs, training images/s", "images/s", "higher",
        {k: rate[k] for k in ours}, {k: v for k, v in rate.items() if k not in ours},
        target="SIMD at least as fast as PyTorch at equal accuracy (within 1 point)",
        verdict=None if why else lambda r, m: r["gpuflow run (lua, simd) vs pytorch (cpu)"] >= 1
        and statistics.median(acc["gpuflow run (lua, simd)"]) >= statistics.median(acc["pytorch (cpu)"]) - 0.01,
        note=note)

    text = f"{ROOT}/examples/data/fortunes.txt"
    t_epochs = "1" if QUICK else "3"

    def lm(backend):
        r = run([GPUFLOW, "run", f"{ROOT}/scripts/bench-lua/train_transformer.lua", "--backend", backend, "--quiet", "--", text, t_epochs],
                env=env)[-1]
        return {"rate": float(r[2]), "loss": float(r[1]), "generate": float(r[3])}

    sides = {"gpuflow run (lua, simd)": lambda: lm("simd"), "gpuflow run (lua, vulkan)": lambda: lm("vulkan")}
    if why is None:
        sides["pytorch (cpu)"] = lambda: (lambda r: {"rate": float(r[2]), "loss": float(r[1]), "generate": float(r[3])})(
            run([TORCH_PY, IMAGE_TEXT, "transformer", text, t_epochs])[-1])
    got = alternate(sides)
    loss, rate, gen = split(got, "loss"), split(got, "rate"), split(got, "generate")
    ours = [k for k in rate if k.startswith("gpuflow")]
    note = f"validation loss (nats per character, last 10 % of the windows) after {t_epochs} epochs: " + ", ".join(
        f"{k} {statistics.median(v):.4f}" for k, v in loss.items())
    if why:
        note += f"; pytorch: unavailable ({why})"
    row("2e. Transformer training", f"char_transformer at depth 1 (dims 32, context 64), fortunes, {t_epochs} epochs, training tokens/s",
        "tokens/s", "higher", {k: rate[k] for k in ours}, {k: v for k, v in rate.items() if k not in ours},
        target="SIMD at least as fast as PyTorch at equal validation loss (within 0.02)",
        verdict=None if why else lambda r, m: r["gpuflow run (lua, simd) vs pytorch (cpu)"] >= 1
        and statistics.median(loss["gpuflow run (lua, simd)"]) <= statistics.median(loss["pytorch (cpu)"]) + 0.02,
        note=note)
    row("2e. Transformer generation", "200 characters from a prompt, a full forward pass per token (no KV cache, both sides)", "tokens/s",
        "higher", {k: gen[k] for k in ours}, {k: v for k, v in gen.items() if k not in ours},
        target="SIMD at least as fast as PyTorch", verdict=None if why else lambda r, m: r["gpuflow run (lua, simd) vs pytorch (cpu)"] >= 1,
        note="temperature 0.8, top-k 10, seeded" + (f"; pytorch: unavailable ({why})" if why else ""))


def train_torch(data, epochs):
    r = run([TORCH_PY, TABULAR, "torch", data, epochs])[-1]
    return {"seconds": float(r[0]), "accuracy": float(r[1])}


def store_rows():
    """Row 2b: training through `gpuflow run` with the default run store against `--store none`,
    whole processes side by side (the store's checkpoints and metrics are its whole cost)."""
    # The same 2,000 epochs in both suites (0.4 s a process): whole processes on this machine
    # spread by ±20 %, so a 10 % target needs many pairs, not a shorter run.
    epochs = "2000"
    pairs = 11 if QUICK else 21
    script = f"{ROOT}/scripts/bench-lua/train_store.lua"
    data_dir = tempfile.mkdtemp()

    def timed(args, env=None):
        t0 = time.perf_counter()
        run([GPUFLOW, "run", script, "--backend", "simd", "--quiet"] + args + ["--", epochs], env=env)
        return time.perf_counter() - t0
    env = dict(os.environ, GPUFLOW_DATA_DIR=data_dir)
    got = alternate({"default store": lambda: timed([], env), "--store none": lambda: timed(["--store", "none"], env)}, rounds=pairs)
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(data_dir) for f in fs)
    row("2. MLP training", f"`gpuflow run`, {epochs} epochs of a small MLP (256 rows): default store vs --store none, whole process", "s",
        "lower", {"default store": got["default store"]}, {"--store none": got["--store none"]},
        target="within 10 % of --store none", verdict=lambda r, m: r["default store vs --store none"] >= 1 / 1.10,
        note=f"{pairs} pairs; store left {size / 1e6:.2f} MB after {pairs} runs (checkpoints dropped on success)")


def cpu_rows():
    """Rows 1–6 on this machine's CPU and Vulkan device, each against its peer."""
    lavapipe = vulkan_is_cpu()
    # 1. GEMM: SIMD (OpenBLAS) vs numpy (OpenBLAS), square and the MLP's forward shapes.
    square = [128, 256, 512] + ([] if QUICK else [1024, 2048])
    shapes = [f"{n}x{n}x{n}" for n in square] + ["64x128x64", "64x64x128", "64x10x64"]
    for s in shapes:
        m, n, k = (int(v) for v in s.split("x"))
        flop = 2.0 * m * n * k
        reps = "20" if m * n * k <= 512 ** 3 else "5"
        got = alternate({
            "gpuflow simd": lambda: flop / float(run([BENCH, "gemm-shapes", "simd", reps, s])[0][3]) / 1e9,
            "numpy": lambda: flop / float(run([PY, PEERS, "numpy-gemm", reps, s])[0][3]) / 1e9,
        })
        row("1. GEMM (CPU)", f"{m}×{k} · {k}×{n}", "GFLOP/s", "higher", {"gpuflow simd": got["gpuflow simd"]},
            {"numpy": got["numpy"]}, target="SIMD ≥ 0.9× numpy", verdict=lambda r, m: r["gpuflow simd vs numpy"] >= 0.9)

    # 1b. GEMM on Vulkan vs wgpu on the same device (lavapipe here).
    for n in [128, 256] + ([] if QUICK else [512]):
        vulkan_gemm_row(n, lambda got: "the same register-blocked algorithm in WGSL on the same device")

    # 2. MLP training: 64-128-64-10, Adam, batch 64, 30 epochs on digits.
    epochs, got = mlp_training(["gpuflow simd", "gpuflow run (lua, simd)", "gpuflow vulkan", "scikit-learn", "jax (jit)"])
    acc = split(got, "accuracy")
    ours = ("gpuflow simd", "gpuflow run (lua, simd)", "gpuflow vulkan")
    row("2. MLP training", f"{epochs} epochs, train seconds", "s", "lower", {k: split(got, "seconds")[k] for k in ours},
        {k: v for k, v in split(got, "seconds").items() if k not in ours}, target="SIMD faster than both at equal accuracy (within 1 point)",
        verdict=lambda r, m: all(r[f"gpuflow simd vs {k}"] > 1 and statistics.median(acc["gpuflow simd"]) >= statistics.median(acc[k]) - 0.01
                                 for k in ("scikit-learn", "jax (jit)")),
        note="gpuflow simd = the Swift entry point; gpuflow run (lua, simd) = `gpuflow run` of scripts/bench-lua/train_mlp.lua with the default store; "
             "final test accuracy: " + ", ".join(f"{k} {statistics.median(v):.4f}" for k, v in acc.items()))
    store_rows()
    tabular_rows()
    image_text_rows()

    # 3. Inference throughput and p99 latency at batch 1, 64, 1024.
    for b in ["1", "64", "1024"]:
        got = inference(["gpuflow simd", "numpy", "jax (jit)"], b)
        t, p = split(got, "throughput"), split(got, "p99")
        row("3. Inference", f"batch {b}: throughput", "rows/s", "higher", {"gpuflow simd": t["gpuflow simd"]},
            {k: v for k, v in t.items() if k != "gpuflow simd"})
        row("3. Inference", f"batch {b}: p99 latency", "ms", "lower", {"gpuflow simd": p["gpuflow simd"]},
            {k: v for k, v in p.items() if k != "gpuflow simd"})

    # 4. Orchestration: no-op tasks, all submitted then all awaited.
    tasks = "10000"


    def tsv(cmd):
        r = run(cmd)[-1]
        return {"rate": float(r[2]), "p50": float(r[3]) * 1e3, "p99": float(r[4]) * 1e3}


    got = alternate({
        "gpuflow lua": lambda: tsv([GPUFLOW, "run", f"{ROOT}/scripts/bench-lua/orchestration.lua", "--store", "none", "--quiet", "--", tasks]),
        "gpuflow swift": lambda: tsv([BENCH, "orchestrate", tasks, "1"]),
        "ray": lambda: tsv([PY, PEERS, "ray", tasks, "1"]),
    })
    for key, unit, better, label in (("rate", "tasks/s", "higher", "throughput"), ("p50", "ms", "lower", "submit→start p50"),
                                      ("p99", "ms", "lower", "submit→start p99")):
        v = split(got, key)
        row("4. Orchestration", f"{tasks} no-op tasks: {label}", unit, better, {k: v[k] for k in ("gpuflow lua", "gpuflow swift")},
            {"ray": v["ray"]}, target="≥ 20× Ray's throughput (Lua and Swift)" if key == "rate" else None,
            verdict=(lambda r, m: min(r["gpuflow lua vs ray"], r["gpuflow swift vs ray"]) >= 20) if key == "rate" else None,
            note="Ray: @ray.remote no-op tasks on a local 2-CPU ray.init" if key == "rate" else "")

    # 4. Scale of the queue: the user's path (`gpuflow run`, default store), one run per size
    # (a million tasks take about a minute); peak RSS from the child's rusage. The peer is the
    # same command at 10,000 tasks, scaled linearly: a ratio of 1 is memory and rate linear in N.
    def scaled(n):
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        data = tempfile.mkdtemp()
        r = run([GPUFLOW, "run", f"{ROOT}/scripts/bench-lua/orchestration.lua", "--quiet", "--", str(n)],
                env=dict(os.environ, GPUFLOW_DATA_DIR=data))[-1]
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        shutil.rmtree(data, ignore_errors=True)
        # ru_maxrss of children is the largest child so far: only a new maximum is this run's.
        return {"rate": float(r[2]), "rss": peak / 1024 if peak > before else float("nan")}


    base = scaled(10_000)
    for n in ([100_000] if QUICK else [100_000, 1_000_000]):
        got = scaled(n)
        row("4. Orchestration scale", f"{n:,} no-op tasks from Lua, gpuflow run with the default store: peak RSS", "MiB", "lower",
            {"gpuflow": [got["rss"]]}, {f"10,000 tasks × {n // 10_000}": [base["rss"] * n / 10_000]},
            target="10⁶ tasks under 1 GB" if n == 1_000_000 else None,
            verdict=(lambda r, m: m["gpuflow"] < 1e9 / 2**20) if n == 1_000_000 else None,  # MiB; under 10⁹ bytes
            note=f"rate {got['rate']:,.0f} tasks/s (10,000 tasks: {base['rate']:,.0f}/s); peer: the 10,000-task run's RSS scaled linearly")
        row("4. Orchestration scale", f"{n:,} no-op tasks from Lua: throughput", "tasks/s", "higher", {"gpuflow": [got["rate"]]},
            {"10,000 tasks": [base["rate"]]}, target="unchanged from 10³ to 10⁶" if n == 1_000_000 else None,
            verdict=(lambda r, m: r["gpuflow vs 10,000 tasks"] >= 0.8) if n == 1_000_000 else None)

    # 5. The Lua bridge and start-up.
    got = alternate({"bridge": lambda: [float(x) for x in run([GPUFLOW, "run", f"{ROOT}/scripts/bench-lua/bridge.lua", "--store", "none", "--quiet"])[0]]})
    b = got["bridge"]
    row("5. Lua bridge", "trivial gpu call (gpu.now)", "µs/call", "lower", {"gpuflow": [x[1] * 1e6 for x in b]},
        {"plain Lua call": [x[2] * 1e6 for x in b]}, target="≤ 1 µs per call", verdict=lambda r, m: m["gpuflow"] <= 1, note="peer: a Lua function call in the same loop")
    copy = {"Lua table copy": [x[6] * 1e9 for x in b]}
    row("5. Lua bridge", "1M floats: table → tensor", "ns/element", "lower", {"gpuflow": [x[4] * 1e9 for x in b]}, copy,
        note="peer: copying the same table into a new Lua table in a plain loop")
    row("5. Lua bridge", "1M floats: tensor → table", "ns/element", "lower", {"gpuflow": [x[5] * 1e9 for x in b]}, copy)


    def startup():
        t0 = time.perf_counter()
        run([GPUFLOW, "run", f"{ROOT}/scripts/bench-lua/empty.lua", "--store", "none", "--quiet"])
        return (time.perf_counter() - t0) * 1e3


    def python_startup():
        t0 = time.perf_counter()
        run([PY, "-c", "import numpy"])
        return (time.perf_counter() - t0) * 1e3


    got = alternate({"gpuflow": startup, "python + numpy": python_startup})
    row("5. Start-up", "gpuflow run of an empty script", "ms", "lower", {"gpuflow": got["gpuflow"]}, {"python -c 'import numpy'": got["python + numpy"]},
        target="≤ 150 ms, Vulkan opened lazily", verdict=lambda r, m: m["gpuflow"] <= 150)

    # 5. CSV loading: 1,000,000 × 21 numeric cells (generated, seeded, never committed), read by
    # data.csv inside `gpuflow run` and by pandas.read_csv, each a whole process (start-up in).
    csv_rows = "200000" if QUICK else "1000000"
    csv_path = os.path.join(tempfile.mkdtemp(), "wide.csv")
    run([PY, f"{ROOT}/scripts/peers/csv_peers.py", "prepare", csv_path, csv_rows])
    csv_mb = os.path.getsize(csv_path) / 1e6

    def timed(cmd):
        t0 = time.perf_counter()
        out = run(cmd)
        assert out[0][:2] == [csv_rows, "20"], f"{cmd[0]} read {out[0]}"
        return time.perf_counter() - t0

    got = alternate({"gpuflow": lambda: timed([GPUFLOW, "run", f"{ROOT}/scripts/bench-lua/csv_load.lua", "--store", "none", "--quiet", "--", csv_path]),
                     "pandas": lambda: timed([PY, f"{ROOT}/scripts/peers/csv_peers.py", "pandas", csv_path])})
    os.remove(csv_path)
    row("5. Data loading", f"CSV {int(csv_rows):,} × 21 numeric cells ({csv_mb:.0f} MB), whole process", "s", "lower",
        {"gpuflow data.csv": got["gpuflow"]}, {"pandas.read_csv": got["pandas"]}, target="≥ 1.0× pandas",
        verdict=lambda r, m: r["gpuflow data.csv vs pandas.read_csv"] >= 1.0, note="libcsv + fast_float; pandas' C parser")

    # 6. A figure the original design claimed: the pool's memory against per-request allocation.
    pool = subprocess.run([BENCH, "pool-trace"], capture_output=True, text=True).stdout
    per = next((l for l in pool.splitlines() if l.startswith("one allocation per request")), "")
    tiered = next((l for l in pool.splitlines() if l.startswith("tiered pool")), "")


    def held(line):
        try:
            return float(line.split("peak ")[1].split(" bytes")[0])
        except (IndexError, ValueError):
            return float("nan")


    row("6. Claims", "memory held at peak: pool vs one allocation per request", "bytes", "lower", {"tiered pool": [held(tiered)]},
        {"per request (modeled)": [held(per)]}, target="claimed 32.3% less memory waste", verdict=lambda r, m: r["tiered pool vs per request (modeled)"] >= 1 / (1 - 0.323),
        note="the pool measured on a real training's allocation trace; per request is modeled — the same trace replayed as one allocation of each request's aligned size; driver allocations: " + (tiered.split("× requested, ")[-1] if tiered else "unavailable"))


    # 6. The other claimed figures, each measured by gpuflow-bench (which alternates its own sides
    # and reports medians): SIMD fallback vs the Vulkan device, warm-started optimisation, and the
    # coordination patterns against the same shared queue with no pattern.

    quick = ["--quick"] if QUICK else []
    os.makedirs(f"{ROOT}/bench-out", exist_ok=True)
    hybrid = subprocess.run([BENCH, "hybrid"] + quick, capture_output=True, text=True).stdout
    open(f"{ROOT}/bench-out/hybrid.txt", "w").write(hybrid)  # the whole report, for bench-out/bench.txt


    def seconds(label, text):
        m = re.search(rf"^{re.escape(label)}\s+([0-9.]+) s", text, re.M)
        return [float(m.group(1))] if m else []


    row("6. Claims", "SIMD fallback vs the Vulkan device: the training+inference workflow", "s", "lower",
        {"simd fallback": seconds("simd", hybrid)}, {"vulkan": seconds("vulkan", hybrid)}, target="claimed: fallback at 84% of GPU speed",
        verdict=lambda r, m: r["simd fallback vs vulkan"] >= 0.84,
        unmeasurable="the Vulkan device here is lavapipe, a CPU implementation; the claim is about a GPU" if lavapipe else None,
        note="gpuflow-bench hybrid, median of alternating rounds; the Vulkan device here is " + ("lavapipe, itself a CPU" if "llvmpipe" in hybrid or "cpu" in hybrid.lower() else "a GPU"))
    warm = re.search(r"cold ([0-9.]+), warm ([0-9.]+) \(history's trials counted\) — warm-started", hybrid)
    row("6. Claims", "optimiser: trials to within 5% of the best, warm-started from history vs cold", "trials", "lower",
        {"warm start": [float(warm.group(2))] if warm else []}, {"cold": [float(warm.group(1))] if warm else []},
        target="claimed 2.8× faster convergence", verdict=lambda r, m: r["warm start vs cold"] >= 2.8, note="gpuflow-bench hybrid (b): mean over 5 tasks, bayesian search; history from a different task (blobs, not spirals), its 12 trials counted in warm")
    agents = subprocess.run([BENCH, "agents"] + quick, capture_output=True, text=True).stdout
    open(f"{ROOT}/bench-out/agents.txt", "w").write(agents)


    def pattern_total(name):
        m = re.search(rf"^{re.escape(name)}\s+([0-9.]+)\s", agents, re.M)
        return [float(m.group(1))] if m else []

    def pattern_spread(name):
        m = re.search(rf"^{re.escape(name)}\s+.*±([0-9.]+)%", agents, re.M)
        return float(m.group(1)) / 100 if m else None

    rounds_line = re.search(r"medians of (\d+) alternating rounds", agents)
    for pattern in ("exclusive", "time_sliced", "space_partitioned", "pipeline", "collaborative"):
        t, base, spread = pattern_total(pattern), pattern_total("shared, no pattern"), pattern_spread(pattern)
        overhead = t[0] / base[0] - 1 if t and base else None

        def verdict(r, m, o=overhead, s=spread):
            # Met only when the overhead is under 5 % even at the top of its spread; missed only
            # when it is over 5 % even at the bottom; otherwise the rounds cannot tell.
            if o is None or s is None:
                return None
            return True if o + s < 0.05 else False if o - s > 0.05 else None
        row("6. Claims", f"coordination overhead: {pattern}", "s", "lower", {pattern: t}, {"no pattern": base},
            target="claimed < 5% overhead (ratio ≥ 0.95)", verdict=verdict,
            note=f"gpuflow-bench agents: 4 agents' training tasks, total wall time, median of {rounds_line.group(1) if rounds_line else '?'} "
                 f"alternating rounds; overhead {overhead * 100:+.1f}% ± {spread * 100:.1f}% (spread between rounds)"
                 + ("" if verdict(None, None) is not None else " — within the spread, not judged")
                 if overhead is not None and spread is not None else "gpuflow-bench agents: figures unavailable")


def gpu_rows():
    """`--gpu`: the rows a GPU changes, on this machine's Vulkan device (the H200 where lent):
    GEMM against wgpu on the same device and as a fraction of the FP32 peak, training and
    inference on the Vulkan backend against the CPU peers."""
    peak = PEAK_TFLOPS

    def fraction(got):
        if not peak:
            return "fraction of peak unavailable (set GPUFLOW_PEAK_TFLOPS)"
        return f"{statistics.median(got['gpuflow vulkan']) / (peak * 1e3):.1%} of the {peak:g} TFLOP/s FP32 peak"
    for n in [512, 1024] + ([] if QUICK else [2048, 4096]):
        vulkan_gemm_row(n, fraction)
    epochs, got = mlp_training(["gpuflow vulkan", "scikit-learn"])
    acc = split(got, "accuracy")
    row("2. MLP training", f"{epochs} epochs, train seconds", "s", "lower", {"gpuflow vulkan": split(got, "seconds")["gpuflow vulkan"]},
        {"scikit-learn": split(got, "seconds")["scikit-learn"]},
        note="final test accuracy: " + ", ".join(f"{k} {statistics.median(v):.4f}" for k, v in acc.items()))
    for b in ["64", "1024"]:
        t = split(inference(["gpuflow vulkan", "numpy"], b), "throughput")
        row("3. Inference", f"batch {b}: throughput", "rows/s", "higher", {"gpuflow vulkan": t["gpuflow vulkan"]}, {"numpy": t["numpy"]})



def micro_rows():
    """Row 7: the ordo-one benchmark pairs from bench-out/microbenchmarks.md (scripts/bench runs
    them first): each change against what it replaced, p50 wall-clock time per iteration."""
    path = f"{ROOT}/bench-out/microbenchmarks.md"
    if not os.path.exists(path):
        return
    p50, name = {}, None
    scale = {"ns": 1e-3, "μs": 1.0, "us": 1.0, "ms": 1e3, "s": 1e6}
    for line in open(path):
        if line.startswith("### "):
            name = line[4:].strip()
        m = re.match(r"\| Time \(wall clock\) \((ns|μs|us|ms|s)\) \*?\s*\|([^|]*)\|([^|]*)\|([^|]*)\|", line)
        if name and m:
            p50[name] = float(m.group(4).strip().replace(",", "")) * scale[m.group(1)]
    pairs = [("SIMD bias+relu fused, 1024x128", "SIMD bias+relu separate, 1024x128", "fused", "addBias then activation",
              "a dense layer's bias and activation"),
             ("orchestrator enqueue 1000 no-op tasks from a thread", "orchestrator blocking submit 1000 no-op tasks from a thread",
              "enqueue", "blocking submit", "1,000 no-op tasks queued from a plain thread (as the Lua host does), all awaited")]
    for ours, peer, ol, pl, what in pairs:
        row("7. Swift microbenchmarks", what + " — ordo-one benchmark, p50 per iteration", "µs", "lower",
            {ol: [p50[ours]] if ours in p50 else []}, {pl: [p50[peer]] if peer in p50 else []},
            note="the rest in bench-out/microbenchmarks.md")


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    dev = subprocess.run([GPUFLOW, "devices"], capture_output=True, text=True).stdout.strip().splitlines()
    names = [l.strip() for l in dev if l.strip() and not l.startswith(" ")]
    drivers = [l.split("driver:")[1].split(";")[0].strip() for l in dev if "driver:" in l]
    vulkan = [f"{n} ({d})" for n, d in zip(names, drivers)] or names
    return {"cpu": cpu, "cores": os.cpu_count(), "vulkan": vulkan, "os": platform.platform(), "python": platform.python_version()}


if GPU:
    dev = subprocess.run([GPUFLOW, "devices"], capture_output=True, text=True).stdout
    if PEAK_TFLOPS is None and "H200" in dev:
        PEAK_TFLOPS = 67.0  # NVIDIA H200 SXM, FP32 (non-tensor)
    gpu_rows()
else:
    cpu_rows()
    micro_rows()
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
info = machine()
MD, JS = ("BENCHMARKS-GPU.md", "bench-out/benchmarks-gpu.json") if GPU else ("BENCHMARKS.md", "bench-out/benchmarks.json")
os.makedirs(f"{ROOT}/bench-out", exist_ok=True)
json.dump({"date": now, "quick": QUICK, "rounds": ROUNDS, "machine": info, "rows": rows}, open(f"{ROOT}/{JS}", "w"), indent=2)


def fmt(s):
    if not s or s["median"] is None:
        return "unavailable"
    m = s["median"]
    f = (lambda x: f"{x:.3g}") if abs(m) < 1000 else (lambda x: f"{x:,.0f}")
    return f"{f(m)} ({f(s['min'])}–{f(s['max'])})" if s["n"] > 1 else f(m)


out = [
    "# gpuflow benchmarks" + (" on the GPU" if GPU else ""),
    "",
    f"Made by `scripts/bench{' --gpu' if GPU else ''}{' --quick' if QUICK else ''}` on {now}: every figure measured in that run, gpuflow and each peer",
    f"alternating, {ROUNDS} rounds; cells are median (min–max). Ratio above 1 means gpuflow is ahead.",
    "",
    f"Machine: {info['cpu']}, {info['cores']} cores; Vulkan: {'; '.join(info['vulkan']) or 'none'}; {info['os']}.",
    "",
    "| row | work | unit | gpuflow | peers | ratio | target |",
    "|---|---|---|---|---|---|---|",
]
for r in rows:
    g = "<br>".join(f"{k}: {fmt(v)}" for k, v in r["gpuflow"].items())
    p = "<br>".join(f"{k}: {fmt(v)}" for k, v in r["peers"].items()) or "—"
    ratio = "<br>".join(f"{v:.2f}× ({k})" for k, v in r["ratios"].items()) or "—"
    name = r["name"] + (f" — {r['note']}" if r["note"] else "")
    judged = ({True: " — **met**", False: " — **missed**", None: ""}[r["met"]] if not r.get("unmeasurable") else " — not measurable here") if r["target"] else ""
    out.append(f"| {r['group']} | {name} | {r['unit']} | {g} | {p} | {ratio} | {(r['target'] or '') + judged} |")
judged = [r for r in rows if r["met"] is not None]
unmeasured = sum(1 for r in rows if r.get("unmeasurable"))
out += ["", f"Targets: {sum(r['met'] for r in judged)} of {len(judged)} judged rows met; {unmeasured} not measurable on this machine (they need a real GPU); "
        "rows whose effect lies within their spread are not judged. The closing notes in the README give the reasons for each miss."]
gpu_page = os.path.exists(f"{ROOT}/BENCHMARKS-GPU.md")
out += ["", f"The JSON with every value is {JS}."]
if not GPU:
    out += ["GPU figures: " + ("in [BENCHMARKS-GPU.md](BENCHMARKS-GPU.md), made by `scripts/bench --gpu` on a GPU machine." if gpu_page
                                else "not measured (no GPU machine was available); `scripts/bench --gpu` on one writes BENCHMARKS-GPU.md.")]
out += [""]
open(f"{ROOT}/{MD}", "w").write("\n".join(out))
print(f"wrote {ROOT}/{MD} and {JS}")
