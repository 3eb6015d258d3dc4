"""GEMM through the `wgpu` Python package (wgpu-native) on the same Vulkan device as gpuflow.

The shader is the same algorithm as Shaders/gemm.comp (16×16 tiles in workgroup memory), in
WGSL, so the comparison is between the two stacks, not two algorithms. Each timed run records
the dispatch, submits it and waits for 4 bytes of the result, as gpuflow-bench does.
Usage: python wgpu_gemm.py N [N ...]   → one line per N: "n wall_seconds max_abs_diff_vs_numpy"
"""
import struct
import sys
import time

import numpy as np
import wgpu

SHADER = """
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


def run(n, reps):
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
    module = device.create_shader_module(code=SHADER)
    pipeline = device.create_compute_pipeline(layout="auto", compute={"module": module, "entry_point": "main"})
    group = device.create_bind_group(layout=pipeline.get_bind_group_layout(0), entries=[
        {"binding": 0, "resource": {"buffer": ba}}, {"binding": 1, "resource": {"buffer": bb}},
        {"binding": 2, "resource": {"buffer": bd}}, {"binding": 3, "resource": {"buffer": dims}}])
    groups = (n + 15) // 16
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
    for arg in sys.argv[1:]:
        n = int(arg)
        seconds, diff, name = run(n, 5 if n <= 256 else 3)
        print(f"{n} {seconds:.6f} {diff:.3e} {name}", flush=True)
