"""GEMM through the `wgpu` Python package (wgpu-native) on the same Vulkan device as gpuflow.

Two WGSL kernels: "blocked", the same algorithm as Shaders/gemm.comp (16×16 invocations, each
computing 4×4 outputs of a 64×64 block, A staged k-major in workgroup memory), so the comparison
is between the two stacks rather than two algorithms; and "tiled", the textbook one-output-per-
invocation 16×16 tiling, for reference. Each timed run records the dispatch, submits it and
waits for 4 bytes of the result, as gpuflow-bench does.
Usage: python wgpu_gemm.py [--kernel blocked|tiled] N [N ...]
       → one line per N: "n wall_seconds max_abs_diff_vs_numpy device"
"""
import struct
import sys
import time

import numpy as np
import wgpu

TILED = """
struct Dims { M: u32, N: u32, K: u32, pad: u32 };
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> D: array<f32>;
@group(0) @binding(3) var<uniform> dims: Dims;
var<workgroup> tileA: array<array<f32, 16>, 16>;
var<workgroup> tileB: array<array<f32, 16>, 16>;

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let tx = lid.x; let ty = lid.y;
    let row = wid.y * 16u + ty; let col = wid.x * 16u + tx;
    var acc = 0.0;
    for (var t = 0u; t < dims.K; t = t + 16u) {
        let ka = t + tx; let kb = t + ty;
        tileA[ty][tx] = select(0.0, A[row * dims.K + ka], row < dims.M && ka < dims.K);
        tileB[ty][tx] = select(0.0, B[kb * dims.N + col], kb < dims.K && col < dims.N);
        workgroupBarrier();
        for (var p = 0u; p < 16u; p = p + 1u) { acc = acc + tileA[ty][p] * tileB[p][tx]; }
        workgroupBarrier();
    }
    if (row < dims.M && col < dims.N) { D[row * dims.N + col] = acc; }
}
"""


BLOCKED = """
struct Dims { M: u32, N: u32, K: u32, pad: u32 };
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> D: array<f32>;
@group(0) @binding(3) var<uniform> dims: Dims;
var<workgroup> As: array<array<f32, 64>, 16>;
var<workgroup> Bs: array<array<f32, 64>, 16>;

fn loadA(row: u32, k: u32) -> f32 {
    if (row >= dims.M || k >= dims.K) { return 0.0; }
    return A[row * dims.K + k];
}
fn loadB(k: u32, col: u32) -> f32 {
    if (k >= dims.K || col >= dims.N) { return 0.0; }
    return B[k * dims.N + col];
}

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let tx = lid.x; let ty = lid.y; let tid = ty * 16u + tx;
    let rowBase = wid.y * 64u; let colBase = wid.x * 64u;
    var acc: array<array<f32, 4>, 4>;
    for (var t = 0u; t < dims.K; t = t + 16u) {
        for (var e = tid; e < 1024u; e = e + 256u) {
            let m = e / 16u; let k = e % 16u;
            As[k][m] = loadA(rowBase + m, t + k);
            let kb = e / 64u; let n = e % 64u;
            Bs[kb][n] = loadB(t + kb, colBase + n);
        }
        workgroupBarrier();
        for (var k = 0u; k < 16u; k = k + 1u) {
            var a: array<f32, 4>; var b: array<f32, 4>;
            for (var i = 0u; i < 4u; i = i + 1u) { a[i] = As[k][ty * 4u + i]; b[i] = Bs[k][tx * 4u + i]; }
            for (var i = 0u; i < 4u; i = i + 1u) {
                for (var j = 0u; j < 4u; j = j + 1u) { acc[i][j] = acc[i][j] + a[i] * b[j]; }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i = i + 1u) {
        let row = rowBase + ty * 4u + i;
        for (var j = 0u; j < 4u; j = j + 1u) {
            let col = colBase + tx * 4u + j;
            if (row < dims.M && col < dims.N) { D[row * dims.N + col] = acc[i][j]; }
        }
    }
}
"""


def run(n, reps, kernel="blocked"):
    adapter = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
    device = adapter.request_device_sync()
    rng = np.random.default_rng(n)
    a = (rng.random((n, n), dtype=np.float32) - 0.5).astype(np.float32)
    b = (rng.random((n, n), dtype=np.float32) - 0.5).astype(np.float32)
    usage = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC | wgpu.BufferUsage.COPY_DST
    ba = device.create_buffer_with_data(data=a.tobytes(), usage=usage)
    bb = device.create_buffer_with_data(data=b.tobytes(), usage=usage)
    bd = device.create_buffer(size=n * n * 4, usage=usage)
    dims = device.create_buffer_with_data(data=struct.pack("4I", n, n, n, 0), usage=wgpu.BufferUsage.UNIFORM)
    module = device.create_shader_module(code=BLOCKED if kernel == "blocked" else TILED)
    pipeline = device.create_compute_pipeline(layout="auto", compute={"module": module, "entry_point": "main"})
    group = device.create_bind_group(layout=pipeline.get_bind_group_layout(0), entries=[
        {"binding": 0, "resource": {"buffer": ba}}, {"binding": 1, "resource": {"buffer": bb}},
        {"binding": 2, "resource": {"buffer": bd}}, {"binding": 3, "resource": {"buffer": dims}}])
    groups = (n + 63) // 64 if kernel == "blocked" else (n + 15) // 16
    times = []
    for i in range(reps + 1):
        t0 = time.perf_counter()
        enc = device.create_command_encoder()
        p = enc.begin_compute_pass()
        p.set_pipeline(pipeline)
        p.set_bind_group(0, group)
        p.dispatch_workgroups(groups, groups, 1)
        p.end()
        device.queue.submit([enc.finish()])
        device.queue.read_buffer(bd, 0, 4)
        if i > 0:
            times.append(time.perf_counter() - t0)
    out = np.frombuffer(device.queue.read_buffer(bd), dtype=np.float32).reshape(n, n)
    diff = float(np.max(np.abs(out - a @ b)))
    return float(np.median(times)), diff, adapter.info["device"]


if __name__ == "__main__":
    args = sys.argv[1:]
    kernel = "blocked"
    if args[:1] == ["--kernel"]:
        kernel, args = args[1], args[2:]
    for arg in args:
        n = int(arg)
        seconds, diff, name = run(n, 5 if n <= 256 else 3, kernel)
        print(f"{n} {seconds:.6f} {diff:.3e} {name}", flush=True)
