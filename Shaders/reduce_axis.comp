#version 450
// reduce_axis.comp — one output per workgroup: Y[o, j] = reduction over n of X[o, ·, j] for an
// (outer, n, inner) view of X. Threads take strided slices of the axis, then a shared-memory
// tree combines them, so no invocation loops more than ceil(n / WG) times (lavapipe cuts loops
// at 65,535). kind: 0 sum, 1 mean, 2 max, 3 argmax (first of equal maxima).
// Bindings: 0 X (readonly, outer·n·inner), 1 Y (writeonly, outer·inner).
// Push constants: n, inner, kind, groupsX, outputs.  Specialization: 0 = WG (power of two).
// Dispatch: outputs spread over (groupsX, ceil(outputs / groupsX)) workgroups.
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 256;
layout(std430, binding = 0) readonly buffer X_ { float X[]; };
layout(std430, binding = 1) writeonly buffer Y_ { float Y[]; };
layout(push_constant) uniform Push { uint n; uint inner; uint kind; uint groupsX; uint outputs; } pc;

shared float vals[WG];
shared uint idxs[WG];

void main() {
    uint out_i = gl_WorkGroupID.y * pc.groupsX + gl_WorkGroupID.x;
    if (out_i >= pc.outputs) return;
    uint lid = gl_LocalInvocationID.x;
    uint o = out_i / pc.inner, j = out_i % pc.inner;
    uint base = o * pc.n * pc.inner + j;
    bool isMax = pc.kind >= 2u;
    float acc = isMax ? -1.0 / 0.0 : 0.0;
    uint best = 0xFFFFFFFFu;
    for (uint k = lid; k < pc.n; k += WG) {
        float v = X[base + k * pc.inner];
        if (isMax) { if (v > acc || best == 0xFFFFFFFFu) { acc = v; best = k; } }
        else acc += v;
    }
    vals[lid] = acc;
    idxs[lid] = best;
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            if (isMax) {
                float a = vals[lid], b = vals[lid + s];
                uint ia = idxs[lid], ib = idxs[lid + s];
                if (ib != 0xFFFFFFFFu && (ia == 0xFFFFFFFFu || b > a || (b == a && ib < ia))) { vals[lid] = b; idxs[lid] = ib; }
            } else {
                vals[lid] += vals[lid + s];
            }
        }
        barrier();
    }
    if (lid == 0u) {
        float r = vals[0];
        if (pc.kind == 1u) r /= float(pc.n);
        if (pc.kind == 3u) r = float(idxs[0]);
        Y[out_i] = r;
    }
}
