// common/rows.glsl — one workgroup per row of an (outer, n, inner) view: the row of output
// `row` holds elements base + k·inner for k < n. Rows spread over (groupsX, ceil(rows/groupsX))
// workgroups; threads stride over the row, and a shared-memory tree (WG a power of two)
// combines their partial results, so no invocation loops more than ceil(n / WG) times.
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 256;
shared float tree[WG];

// The sum (or max when `take_max`) over the workgroup of each thread's `v`; every thread gets it.
float row_combine(float v, bool take_max) {
    uint lid = gl_LocalInvocationID.x;
    tree[lid] = v;
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) tree[lid] = take_max ? max(tree[lid], tree[lid + s]) : tree[lid] + tree[lid + s];
        barrier();
    }
    float r = tree[0];
    barrier();
    return r;
}
