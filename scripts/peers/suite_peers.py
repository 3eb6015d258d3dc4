"""Peers for scripts/bench's suite, one TSV line per measurement (the same shapes as gpuflow-bench):
  numpy-gemm REPS MxNxK...        m n k seconds (median of REPS after a warm-up; numpy on OpenBLAS)
  infer numpy|jax ROWS BATCH...   batch rows/s p99-ms (MLP 64-128-64-10, relu, the rows in batches)
  ray TASKS ROUNDS                tasks seconds tasks/s p50-s p99-s (no-op @ray.remote tasks, local)
"""
import statistics
import sys
import time


def numpy_gemm(reps, shapes):
    import numpy as np
    rng = np.random.default_rng(0)
    for m, n, k in shapes:
        a = rng.random((m, k), dtype=np.float32) - 0.5
        b = rng.random((k, n), dtype=np.float32) - 0.5
        c = np.empty((m, n), dtype=np.float32)
        times = []
        for i in range(reps + 1):
            t0 = time.perf_counter()
            np.matmul(a, b, out=c)
            if i > 0:
                times.append(time.perf_counter() - t0)
        print(f"{m}\t{n}\t{k}\t{statistics.median(times)}", flush=True)


def infer(which, rows, batches):
    import numpy as np
    rng = np.random.default_rng(1)
    sizes = [64, 128, 64, 10]
    ws = [(rng.standard_normal((i, o)).astype(np.float32) * np.float32((2 / i) ** 0.5), np.zeros(o, np.float32))
          for i, o in zip(sizes, sizes[1:])]
    x = rng.standard_normal((rows, 64)).astype(np.float32)
    if which == "jax":
        import jax
        import jax.numpy as jnp
        jws = [(jnp.asarray(w), jnp.asarray(b)) for w, b in ws]

        @jax.jit
        def forward(h):
            for i, (w, b) in enumerate(jws):
                h = h @ w + b
                if i < len(jws) - 1:
                    h = jax.nn.relu(h)
            return jnp.argmax(h, axis=1)

        run = lambda h: forward(jnp.asarray(h)).block_until_ready()
    else:
        def run(h):
            for i, (w, b) in enumerate(ws):
                h = h @ w + b
                if i < len(ws) - 1:
                    h = np.maximum(h, 0)
            return h.argmax(axis=1)
    for batch in batches:
        for warm in (True, False):
            lat = []
            t0 = time.perf_counter()
            for s in range(0, rows, batch):
                b0 = time.perf_counter()
                run(x[s:s + batch])
                lat.append(time.perf_counter() - b0)
            total = time.perf_counter() - t0
        lat.sort()
        p99 = lat[max(0, int(0.99 * len(lat) + 0.999999) - 1)]
        print(f"{batch}\t{rows / total}\t{p99 * 1000}", flush=True)


def ray_tasks(n, rounds):
    import ray
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")

    @ray.remote
    def noop(submitted):
        return time.time() - submitted

    ray.get([noop.remote(time.time()) for _ in range(min(n, 1000))])  # warm-up: workers started
    for _ in range(rounds):
        t0 = time.perf_counter()
        refs = [noop.remote(time.time()) for _ in range(n)]
        lat = sorted(ray.get(refs))
        total = time.perf_counter() - t0
        p = lambda q: lat[max(0, int(q * len(lat) + 0.999999) - 1)]
        print(f"{n}\t{total}\t{n / total}\t{p(0.5)}\t{p(0.99)}", flush=True)
    ray.shutdown()


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    shapes = lambda xs: [tuple(int(v) for v in s.split("x")) for s in xs]
    if cmd == "numpy-gemm":
        numpy_gemm(int(args[0]), shapes(args[1:]))
    elif cmd == "infer":
        infer(args[0], int(args[1]), [int(b) for b in args[2:]])
    elif cmd == "ray":
        ray_tasks(int(args[0]), int(args[1]))
    else:
        sys.exit(__doc__)
