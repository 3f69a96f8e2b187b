/* _select.c for edgerec.infer._native512 (see _native512.c). */
#define EDGEREC_WIDE 1
#include "_select.c"
