// common/elementwise.glsl — shared preamble of one-thread-per-element kernels.
// Workgroup size comes from specialization constant 0 (default 256); dispatch ceil(count / 256)
// workgroups. Threads past `count` return at once.
layout(local_size_x_id = 0) in;
#define ELEMENT_INDEX_OR_RETURN(count) uint i = gl_GlobalInvocationID.x; if (i >= (count)) return;
