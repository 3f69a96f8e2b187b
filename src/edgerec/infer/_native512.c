/* _native.c built with 16-float vectors for AVX-512 CPUs: the module edgerec.infer._native512
 * (see _native.h). A file of its own, not a macro on the same source: the two builds' objects
 * then never share a path in the build directory. */
#define EDGEREC_WIDE 1
#include "_native.c"
