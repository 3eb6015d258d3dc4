// common/strided.glsl — flat index → element offset through per-axis strides, for ranks up to
// MAX_RANK (6). Axis sizes and strides travel in push constants, innermost axis last.
#define MAX_RANK 6
uint strided_offset(uint i, uint rank, uint dims[MAX_RANK], uint strides[MAX_RANK]) {
    uint off = 0u;
    for (int a = int(rank) - 1; a >= 0; --a) {
        uint d = dims[a];
        off += (i % d) * strides[a];
        i /= d;
    }
    return off;
}
