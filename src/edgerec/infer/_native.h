/* What the compiled kernels share: vector types and helpers, and buffer arguments.
 *
 * GCC's vector extensions keep one source for every instruction set. A vector must fit one
 * register of the build that runs it: a wider one is kept in memory, every multiply-add of a
 * tile going through the stack. With 16-float vectors the AVX2 build took 9.2 ms for the
 * product of 16 users with 12,101 items on a Zen 3 core (numpy: ~0.2 ms). So on x86-64 the
 * sources build twice:
 * - edgerec.infer._native, 8-float vectors, each hot function compiled for AVX2 and baseline
 *   SSE2 (and AVX-512), the loader picking the best the CPU has;
 * - edgerec.infer._native512 (EDGEREC_WIDE), 16-float vectors, all of it for x86-64-v4
 *   (AVX-512). On a Zen 5 core, whose AVX-512 units are 512 bits wide, it took the encoder
 *   from 14.4 to 8.7 us per user and the softmax of a 12,101-item row from 5.8 to 4.2 us.
 *   edgerec.infer._kernels imports it only where _native says the CPU runs it.
 * Elsewhere vectors are 4 floats. The baseline SSE2 build, with 4-float registers, is as slow
 * as the 16-float AVX2 one: x86-64 CPUs without AVX2 and FMA serve with numpy instead
 * (`vectorized`, edgerec.infer._kernels).
 *
 * The permutes are GCC's __builtin_shuffle: another compiler fails the optional build, and
 * serving then runs the numpy implementation.
 */
#ifndef EDGEREC_NATIVE_H
#define EDGEREC_NATIVE_H

#if defined(EDGEREC_WIDE) && defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
/* Before any header, so their inline functions build for the same CPU. Elsewhere the wide
 * module builds as the plain one and is never imported. */
#pragma GCC target("arch=x86-64-v4")
#define LANES 16
#define WIDE_BUILD 1
#endif

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(WIDE_BUILD)
#include <immintrin.h>
#endif

#if defined(WIDE_BUILD)
#define CLONES /* the whole build is for one CPU level */
#elif defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONES
#endif
#define INLINE static inline __attribute__((always_inline))

/* Floats per vector: one register's worth. 16 (AVX-512) in the wide build, 8 (AVX2) in the
 * other on x86-64, 4 (NEON) elsewhere. */
#if defined(WIDE_BUILD)
#elif defined(__x86_64__)
#define LANES 8
#else
#define LANES 4
#endif
#define PANEL 64 /* columns of a packed item-table panel (edgerec.infer._half) */
typedef float vf __attribute__((vector_size(LANES * sizeof(float))));
typedef int32_t vi __attribute__((vector_size(LANES * sizeof(int32_t))));

/* Unaligned loads and stores: rows of odd widths start anywhere. Through vector types of
 * element alignment rather than memcpy: without AVX-512, GCC lowered a memcpy into a 64-byte
 * vector to 8-byte moves through general registers (half of a Zen 3 core's product time). */
typedef float vf_unaligned __attribute__((vector_size(sizeof(vf)), aligned(4), may_alias));
typedef int32_t vi_unaligned __attribute__((vector_size(sizeof(vi)), aligned(4), may_alias));
INLINE vf load(const float *p) { return *(const vf_unaligned *)p; }
INLINE void store(float *p, vf v) { *(vf_unaligned *)p = v; }
INLINE vi load_words(const void *p) { return *(const vi_unaligned *)p; }
/* One float in every lane; a broadcast, where (vf){0} + x also spent an add. */
INLINE vf splat(float x) { return __builtin_shuffle((vf){x}, (vi){0}); }
/* Lane permutations that swap halves, quarters, eighths and neighbours: FOLDS folds with them
 * combine all lanes into each (a reduction in log2(LANES) steps, not LANES - 1). Narrower
 * vectors define the folds they skip as identities, so one source serves every width. */
#if LANES == 16
#define FOLDS 4
#define FOLD1 ((vi){8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7})
#define FOLD2 ((vi){4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11})
#define FOLD3 ((vi){2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13})
#define FOLD4 ((vi){1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14})
#elif LANES == 8
#define FOLDS 3
#define FOLD1 ((vi){4, 5, 6, 7, 0, 1, 2, 3})
#define FOLD2 ((vi){2, 3, 0, 1, 6, 7, 4, 5})
#define FOLD3 ((vi){1, 0, 3, 2, 5, 4, 7, 6})
#define FOLD4 ((vi){0, 1, 2, 3, 4, 5, 6, 7})
#else
#define FOLDS 2
#define FOLD1 ((vi){2, 3, 0, 1})
#define FOLD2 ((vi){1, 0, 3, 2})
#define FOLD3 ((vi){0, 1, 2, 3})
#define FOLD4 FOLD3
#endif
INLINE float hsum(vf v) {
    v += __builtin_shuffle(v, FOLD1);
    v += __builtin_shuffle(v, FOLD2);
    if (FOLDS > 2) v += __builtin_shuffle(v, FOLD3);
    if (FOLDS > 3) v += __builtin_shuffle(v, FOLD4);
    return v[0];
}

/* Lanes of a where mask is set (-1), of b elsewhere; casts between vector types keep bits. */
INLINE vf pick(vi mask, vf a, vf b) { return (vf)(((vi)a & mask) | ((vi)b & ~mask)); }

/* The larger of a and b in each lane, b where either is NaN. GCC builds the portable form as
 * a chain of three instructions; AVX-512's vmaxps gives the same results in one. */
#if defined(WIDE_BUILD)
INLINE vf vmax(vf a, vf b) { return _mm512_max_ps(a, b); }
#else
INLINE vf vmax(vf a, vf b) { return pick(a > b, a, b); }
#endif

/* The largest lane of v (NaN lanes: see vmax). */
INLINE float hmax(vf v) {
    v = vmax(v, __builtin_shuffle(v, FOLD1));
    v = vmax(v, __builtin_shuffle(v, FOLD2));
    if (FOLDS > 2) v = vmax(v, __builtin_shuffle(v, FOLD3));
    if (FOLDS > 3) v = vmax(v, __builtin_shuffle(v, FOLD4));
    return v[0];
}

/* IEEE half-precision bits (the low 16 bits of each lane) as floats, exact for every input:
 * normal numbers rebiased, subnormals scaled, infinities and NaN kept. */
INLINE vf half_to_float(vi h) {
    vi sign = (h & 0x8000) << 16, magnitude = h & 0x7fff;
    vi normal = (magnitude << 13) + ((127 - 15) << 23);
    vi special = (magnitude << 13) | 0x7f800000; /* exponent 31 */
    vf subnormal = __builtin_convertvector(magnitude, vf) * 0x1p-24f;
    vf value = pick(magnitude < 0x400, subnormal, pick(magnitude >= 0x7c00, (vf)special, (vf)normal));
    return (vf)((vi)value | sign);
}

/* The `part`-th LANES of 2 * LANES halves (`words`, as LANES int32) as floats: each
 * word copied to two lanes, the low half to the even lane, the high half to the odd one. */
INLINE vf widen_half(vi words, int part) {
#if LANES == 16
    int w = 8 * part;
    vi spread = __builtin_shuffle(words, (vi){w, w, w + 1, w + 1, w + 2, w + 2, w + 3, w + 3,
                                               w + 4, w + 4, w + 5, w + 5, w + 6, w + 6, w + 7,
                                               w + 7});
    const vi down = {0, 16, 0, 16, 0, 16, 0, 16, 0, 16, 0, 16, 0, 16, 0, 16};
#elif LANES == 8
    int w = 4 * part;
    vi spread = __builtin_shuffle(words, (vi){w, w, w + 1, w + 1, w + 2, w + 2, w + 3, w + 3});
    const vi down = {0, 16, 0, 16, 0, 16, 0, 16};
#else
    int w = 2 * part;
    vi spread = __builtin_shuffle(words, (vi){w, w, w + 1, w + 1});
    const vi down = {0, 16, 0, 16};
#endif
    return half_to_float((spread >> down) & 0xffff);
}

INLINE float half_scalar(uint16_t h) {
    vi bits = {0};
    bits[0] = h;
    return half_to_float(bits)[0];
}

/* A buffer-protocol argument, released by `release` whether or not parsing finished. */
typedef struct {
    Py_buffer view;
    int held;
} Buffer;

/* Borrow obj's buffer into b; ValueError when it holds fewer than `floats` float-sized units. */
int get(PyObject *obj, Buffer *b, int writable, Py_ssize_t floats, const char *name);
void release(Buffer *buffers, int n);

/* A kernel's status as the Python error it stands for: 0 none, -2 out of memory (MemoryError),
 * any other an IndexError saying `message`. Returns status, so callers write
 * `if (raise_for(status, "...")) goto done;`. */
int raise_for(int status, const char *message);

/* Scoring steps of _native.c that _select.c's hybrid top-k runs row by row. */
float exp_row(float *row, ptrdiff_t n);
int add_transitions(float *out, ptrdiff_t users, ptrdiff_t n, const int64_t *indptr,
                    ptrdiff_t table_rows, const int32_t *indices, const float *data,
                    ptrdiff_t entries, const int64_t *items, ptrdiff_t item_count,
                    const int64_t *offsets, float decay, float weight);

/* Ragged integer groups (_groups.c): every value as one int64 array and the groups + 1
 * offsets where each group starts; `empty` flags the groups that were empty (with pad_empty). */
typedef struct {
    int64_t *values, *offsets;
    char *empty;
} Joined;

/* Joins group r of `first` (a sequence of exactly `count` 1-D int32 or int64 arrays; its last
 * `tail` values when tail > 0, newest first with `reverse`) and then, unless `second` is NULL,
 * group r of `second`, for every r. With `pad_empty`, an empty row becomes the one value 0.
 * Returns 0, or -1 with a Python exception set; the caller frees `out` with joined_free. */
int join_groups(PyObject *first, PyObject *second, Py_ssize_t count, Py_ssize_t tail,
                int reverse, int pad_empty, const char *name, Joined *out);
void joined_free(Joined *j);
/* `count` category codes from a sequence of ints, or all -1 (any category) for None, into a
 * malloc'd array. Returns 0, or -1 with a Python exception set. */
int codes_get(PyObject *codes, Py_ssize_t count, int32_t **out);

/* Kernels of _select.c, registered by _native.c's module. */
PyObject *py_top_k(PyObject *self, PyObject *args);
PyObject *py_top_k_hybrid(PyObject *self, PyObject *args);
PyObject *py_quantize(PyObject *self, PyObject *args);
PyObject *py_ivf_scan(PyObject *self, PyObject *args);
PyObject *py_rescore(PyObject *self, PyObject *args);
/* Rendering of _render.c. */
PyObject *py_render(PyObject *self, PyObject *args);

#endif
