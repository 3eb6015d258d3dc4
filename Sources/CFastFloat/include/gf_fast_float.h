#ifndef GF_FAST_FLOAT_H
#define GF_FAST_FLOAT_H
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Parses the whole of bytes[0..<length] as a decimal or scientific number (fast_float: exact,
/// round-to-nearest, as strtof but about 3× faster). Leading '+' is accepted; "nan" and "inf"
/// parse (the caller refuses them). Returns 1 and sets *out when every byte was used, else 0.
int gf_parse_float(const char *bytes, size_t length, float *out);

#ifdef __cplusplus
}
#endif
#endif
