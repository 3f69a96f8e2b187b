/* Compiled kernels for the serving hot path: the SASRec encoder's forward pass, the
 * user x item-table product, the row softmax and the hybrid's transition term.
 *
 * Why C: a batch of a few users makes ~100 numpy calls in the encoder, each a few
 * microseconds of overhead around little arithmetic, and OpenBLAS packs the whole item table
 * on every product with a handful of rows (3x the cost of reading it once). Here the encoder
 * is one call and the product reads each block of the table once for all users.
 *
 * The arithmetic mirrors edgerec/infer/_sasrec.py (the reference implementation, used when
 * this module is not built): same layout of weights, same GELU formula, float32 throughout.
 * Sums run in a different order, so results agree to float32 rounding, not bit for bit.
 *
 * Selection (top-k, the ANN index scan) is in _select.c, the answers' JSON in _render.c;
 * shared helpers in _native.h, the 16-float AVX-512 build in _native512.c.
 */
#include "_native.h"

/* Whether a tile of 4 rows x 4 vectors of columns fits the vector registers: AVX-512 has 32.
 * AVX2 (and the rest) has 16, where those 16 accumulators would be spilled to the stack on
 * every multiply-add: there rows go 6 at a time, then 4, each taking 2 vectors (12 or 8
 * sums, the column's 2 vectors and a broadcast), then 2 taking 4 vectors. A lone row keeps 4
 * (4 sums in flight, where 2 would wait on the multiply-add latency). On a Zen 4 core (AVX2
 * only, 2026-11-29, benchmarks/stages.py, five alternating runs each way) the encoder of one
 * ten-item history went from 26.7-27.6 to 23.4-23.6 us (its 10 rows as 6 + 4, not 4 + 4 +
 * 1 + 1), of 64 from 20.6-21.0 to 19.7-20.1 us per user. */
static int wide_tiles(void) {
#if defined(WIDE_BUILD)
    return 1;
#elif defined(__x86_64__) && defined(__GNUC__)
    static int known = -1;
    if (known < 0) known = __builtin_cpu_supports("avx512f");
    return known;
#elif defined(__aarch64__)
    return 1; /* 32 NEON registers */
#else
    return 0;
#endif
}

/* Scratch starting on a cache line, as the panels and the packed encoder weights do
 * (edgerec.infer._half.aligned_zeros): with rows of whole vectors, no 16-float load of it
 * straddles two lines. aligned_alloc wants a multiple of the alignment. */
static void *line_alloc(size_t bytes) { return aligned_alloc(64, (bytes + 63) / 64 * 64); }

/* out[r] = bias + x[r] @ w (+ add[r]) for a tile of R rows and Q vectors of columns. R and Q
 * are constants after inlining: the R x Q accumulators stay in registers. */
INLINE void tile(int R, int Q, const float *x, ptrdiff_t x_stride, int K, const float *w,
                 ptrdiff_t w_stride, const float *bias, const float *add, ptrdiff_t add_stride,
                 float *out, ptrdiff_t out_stride) {
    vf acc[6][4];
    for (int q = 0; q < Q; q++) {
        vf b = bias ? load(bias + q * LANES) : splat(0.0f);
        for (int r = 0; r < R; r++) acc[r][q] = b;
    }
    for (int k = 0; k < K; k++) {
        vf col[4];
        for (int q = 0; q < Q; q++) col[q] = load(w + k * w_stride + q * LANES);
        for (int r = 0; r < R; r++) {
            vf s = splat(x[r * x_stride + k]);
            for (int q = 0; q < Q; q++) acc[r][q] += s * col[q];
        }
    }
    for (int r = 0; r < R; r++)
        for (int q = 0; q < Q; q++) {
            vf v = acc[r][q];
            if (add) v += load(add + r * add_stride + q * LANES);
            store(out + r * out_stride + q * LANES, v);
        }
}

INLINE void columns(int R, const float *x, ptrdiff_t x_stride, int K, const float *w,
                    ptrdiff_t w_stride, int j, int width, const float *bias, const float *add,
                    ptrdiff_t add_stride, float *out, ptrdiff_t out_stride, int wide) {
    if (width == 4 * LANES && R >= 4 && !wide)
        for (int half = j; half < j + width; half += 2 * LANES)
            tile(R, 2, x, x_stride, K, w + half, w_stride, bias ? bias + half : NULL,
                 add ? add + half : NULL, add_stride, out + half, out_stride);
    else if (width == 4 * LANES)
        tile(R, 4, x, x_stride, K, w + j, w_stride, bias ? bias + j : NULL, add ? add + j : NULL,
             add_stride, out + j, out_stride);
    else if (width == LANES)
        tile(R, 1, x, x_stride, K, w + j, w_stride, bias ? bias + j : NULL, add ? add + j : NULL,
             add_stride, out + j, out_stride);
    else
        for (int r = 0; r < R; r++) /* the last < LANES columns */
            for (int c = j; c < j + width; c++) {
                float s = bias ? bias[c] : 0.0f;
                for (int k = 0; k < K; k++) s += x[r * x_stride + k] * w[k * w_stride + c];
                if (add) s += add[r * add_stride + c];
                out[r * out_stride + c] = s;
            }
}

/* out = x @ w (+ bias) (+ add): rows x K times K x N, every matrix row-major with its own row
 * stride. Column blocks outermost: a block of w is read from memory once and then serves every
 * row from cache, so a few users against a large item table cost one pass over the table. */
CLONES static void linear(const float *x, ptrdiff_t x_stride, int rows, int K, const float *w,
                          ptrdiff_t w_stride, int N, const float *bias, const float *add,
                          ptrdiff_t add_stride, float *out, ptrdiff_t out_stride) {
    int wide = wide_tiles();
    for (int j = 0; j < N;) {
        int width = N - j >= 4 * LANES ? 4 * LANES : (N - j >= LANES ? LANES : N - j);
        int r = 0;
#define ROW_TILES(R)                                                                           \
    for (; r + (R) <= rows; r += (R))                                                          \
    columns((R), x + r * x_stride, x_stride, K, w, w_stride, j, width, bias,                   \
            add ? add + r * add_stride : NULL, add_stride, out + r * out_stride, out_stride, wide)
        if (!wide) ROW_TILES(6);
        ROW_TILES(4);
        if (!wide) ROW_TILES(2);
        ROW_TILES(1);
#undef ROW_TILES
        j += width;
    }
}

/* e^f for f = x - n ln 2 (ln 2 in two parts, so f keeps its low bits), as the Taylor
 * polynomial of `degree` (a constant after inlining, so the loop unrolls). */
INLINE vf exp_taylor(vf x, vf n, int degree) {
    static const float inverse_factorial[] = {
        1.0f, 1.0f, 1.0f / 2.0f, 1.0f / 6.0f, 1.0f / 24.0f, 1.0f / 120.0f, 1.0f / 720.0f,
        1.0f / 5040.0f};
    vf f = x - n * 0.693145751953125f - n * 1.428606765330187e-06f;
    vf p = splat(inverse_factorial[degree]);
    for (int k = degree - 1; k >= 0; k--) p = p * f + inverse_factorial[k];
    return p;
}

/* exp on LANES floats: 2^n * e^f with f in [0, ln 2), a degree-7 Taylor polynomial for e^f
 * (relative error about 1e-6). Inputs below -87 give 0 (as exp underflows), above 88 give
 * exp(88), a normal float: GELU only needs exp of large arguments to be large. */
INLINE vf vexp(vf x) {
    const vf hi = splat(88.0f), lo = splat(-87.0f);
    vi underflow = x < lo;
    x = pick(x > hi, hi, x);
    x = pick(underflow, lo, x);
    vf t = x * 1.44269504088896341f;
    vi n = __builtin_convertvector(t, vi);
    n += (__builtin_convertvector(n, vf) > t); /* truncation -> floor: true is -1 */
    vf p = exp_taylor(x, __builtin_convertvector(n, vf), 7);
    return pick(underflow, splat(0.0f), p * (vf)((n + 127) << 23));
}

/* exp for a softmax, whose arguments are scores minus their row's maximum, so never above 0:
 * no overflow check, and rounding to the nearest n (f within +-ln2/2) lets a degree-6
 * polynomial reach vexp's accuracy. Below -86 the result is 0, as in numpy up to a few
 * subnormals (the clamp keeps the arithmetic off subnormals, slow on some CPUs). About half
 * of vexp's vector operations: 1.4x faster on an AVX2 core. */
INLINE vf vexp_nonpositive(vf x) {
    const vf round = splat(12582912.0f); /* 1.5 * 2^23: adding it rounds to an integer */
#if defined(WIDE_BUILD)
    /* vscalefps multiplies by 2^n, the same product as building 2^n's bits, and zeroes the
     * masked lanes in the same instruction, replacing the clamp, the exponent's bits, the
     * multiply and the select. Lanes below -86 (or -inf) compute garbage, then 0; NaN lanes
     * stay NaN, as in the portable form. */
    __mmask16 kept = _mm512_cmp_ps_mask(x, splat(-86.0f), _CMP_NLT_UQ);
    vf nf = (x * 1.44269504088896341f + round) - round;
    return _mm512_maskz_scalef_ps(kept, exp_taylor(x, nf, 6), nf);
#else
    vi underflow = x < splat(-86.0f);
    x = pick(underflow, splat(-86.0f), x);
    vf shifted = x * 1.44269504088896341f + round;
    vf nf = shifted - round;
    vi n = (vi)shifted - (vi)round;
    vf p = exp_taylor(x, nf, 6);
    return pick(underflow, splat(0.0f), p * (vf)((n + 127) << 23));
#endif
}

/* a / b. AVX-512's division has a fraction of its multiply's throughput, and GELU's was about
 * a quarter of the encoder's time outside its matrix products (perf): there a reciprocal
 * estimate (14 bits) and one Newton step, within 2 units in the last place of the quotient. */
INLINE vf divide(vf a, vf b) {
#if defined(WIDE_BUILD)
    vf r = _mm512_rcp14_ps(b);
    r = r * (2.0f - b * r);
    return a * r;
#else
    return a / b;
#endif
}

/* GELU, tanh form, as x / (1 + exp(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3): as in numpy. */
CLONES static void gelu(float *x, size_t n) {
    const float a = -2.0f * 0.7978845608028654f, b = a * 0.044715f;
    size_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        vf v = load(x + i);
        vf z = (v * v * b + a) * v;
        store(x + i, divide(v, vexp(z) + 1.0f));
    }
    for (; i < n; i++) {
        float v = x[i];
        x[i] = v / (expf((v * v * b + a) * v) + 1.0f);
    }
}

/* LayerNorm of each of `rows` rows of width d in place (row stride d). */
CLONES static void layer_norm(float *x, int rows, int d, const float *gain, const float *bias,
                              float eps) {
    for (int r = 0; r < rows; r++) {
        float *row = x + (ptrdiff_t)r * d;
        vf acc = splat(0.0f);
        int i = 0;
        for (; i + LANES <= d; i += LANES) acc += load(row + i);
        float sum = hsum(acc);
        for (; i < d; i++) sum += row[i];
        float mean = sum / d;
        acc = splat(0.0f);
        for (i = 0; i + LANES <= d; i += LANES) {
            vf c = load(row + i) - mean;
            acc += c * c;
        }
        float spread = hsum(acc);
        for (; i < d; i++) spread += (row[i] - mean) * (row[i] - mean);
        float inv = 1.0f / sqrtf(spread / d + eps);
        for (i = 0; i + LANES <= d; i += LANES)
            store(row + i, (load(row + i) - mean) * inv * load(gain + i) + load(bias + i));
        for (; i < d; i++) row[i] = (row[i] - mean) * inv * gain[i] + bias[i];
    }
}

INLINE float dot(const float *a, const float *b, int n) {
    vf acc = splat(0.0f);
    int i = 0;
    for (; i + LANES <= n; i += LANES) acc += load(a + i) * load(b + i);
    float s = hsum(acc);
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

/* out (n floats, zero on entry) += the sum over j in [first, last] of scale * weights[j] times
 * row j of x (row stride `stride`), rows in order. A head of up to 4 whole vectors (every
 * default model's) sums in registers: added through memory, each row's update waited on the
 * previous one's store, and that chain was the encoder's costliest store (perf, AVX-512). */
INLINE void weighted_rows(const float *weights, int first, int last, float scale,
                          const float *x, ptrdiff_t stride, float *out, int n) {
    if (n % LANES == 0 && n <= 4 * LANES) {
        int vectors = n / LANES;
        vf acc[4] = {splat(0.0f), splat(0.0f), splat(0.0f), splat(0.0f)};
        for (int j = first; j <= last; j++) {
            vf alpha = splat(weights[j] * scale);
            for (int v = 0; v < 4; v++)
                if (v < vectors) acc[v] += alpha * load(x + j * stride + v * LANES);
        }
        for (int v = 0; v < vectors; v++) store(out + v * LANES, acc[v]);
        return;
    }
    for (int j = first; j <= last; j++) {
        float alpha = weights[j] * scale;
        const float *row = x + j * stride;
        int i = 0;
        for (; i + LANES <= n; i += LANES) store(out + i, load(out + i) + alpha * load(row + i));
        for (; i < n; i++) out[i] += alpha * row[i];
    }
}

/* weights[0:n] = exp(weights[0:n] - peak), peak their maximum; returns their sum. In vectors:
 * an expf call per attention weight was ~6% of the encoder's time (perf, Xeon, 2026-11-28).
 * weights has room for a whole last vector: its lanes past n are set to -inf (exp 0). Not
 * inlined: inside attend, GCC then kept weighted_rows' sums on the stack (aarch64). */
CLONES __attribute__((noinline)) static float exp_weights(float *weights, int n, float peak) {
    for (int j = n; j % LANES; j++) weights[j] = -INFINITY;
    vf acc = splat(0.0f);
    for (int i = 0; i < n; i += LANES) {
        vf e = vexp_nonpositive(load(weights + i) - peak);
        store(weights + i, e);
        acc += e;
    }
    return hsum(acc);
}

/* Causal attention of one user. Queries: `queries` rows of q (row stride q_stride), the last
 * `queries` positions of the user's `width`; keys and values: rows of kv (stride kv_stride,
 * keys at column 0, values at column d). Padded positions (< pad) are never read; a padded
 * query gets a zero context. The 1/sqrt(head size) is already in q. */
CLONES static void attend(const float *q, ptrdiff_t q_stride, int queries, const float *kv,
                          ptrdiff_t kv_stride, int width, int pad, int d, int heads, float *ctx,
                          float *weights) {
    int size = d / heads;
    for (int i = 0; i < queries; i++) {
        int t = width - queries + i;
        float *out = ctx + (ptrdiff_t)i * d;
        memset(out, 0, sizeof(float) * d);
        if (t < pad) continue;
        for (int h = 0; h < heads; h++) {
            const float *query = q + i * q_stride + h * size;
            float peak = -INFINITY;
            for (int j = pad; j <= t; j++) {
                weights[j] = dot(query, kv + j * kv_stride + h * size, size);
                peak = weights[j] > peak ? weights[j] : peak;
            }
            float total = exp_weights(weights + pad, t - pad + 1, peak);
            weighted_rows(weights, pad, t, 1.0f / total, kv + d + h * size, kv_stride,
                          out + h * size, size);
        }
    }
}

/* Weights of one block, in the order edgerec.infer._sasrec packs them. */
typedef struct {
    const float *qkv_w, *qkv_b, *o_w, *o_b, *ln1_g, *ln1_b, *ff1_w, *ff1_b, *ff2_w, *ff2_b,
        *ln2_g, *ln2_b;
} Block;

static const float *unpack(const float *p, Block *b, int d, int ff) {
    const float **fields[] = {&b->qkv_w, &b->qkv_b, &b->o_w,  &b->o_b,  &b->ln1_g, &b->ln1_b,
                              &b->ff1_w, &b->ff1_b, &b->ff2_w, &b->ff2_b, &b->ln2_g, &b->ln2_b};
    ptrdiff_t sizes[] = {(ptrdiff_t)d * 3 * d, 3 * d, (ptrdiff_t)d * d, d, d, d,
                         (ptrdiff_t)d * ff, ff, (ptrdiff_t)ff * d, d, d, d};
    for (int i = 0; i < 12; i++) {
        *fields[i] = p;
        p += sizes[i];
    }
    return p;
}

/* Post-LN block over x: the rows of `batch` users, user b's from offsets[b] to offsets[b + 1],
 * unpadded, so a batch costs the sum of its histories' lengths rather than the batch size
 * times the longest. With `last_only`, each user keeps only its last row: out gets batch rows
 * (and `last` holds those rows of x meanwhile). */
static void block(const Block *w, const float *x, int batch, const int64_t *offsets, int d,
                  int heads, int ff, float eps, int last_only, float *qkv, float *ctx,
                  float *hidden, float *weights, float *last, float *out) {
    int rows = (int)offsets[batch];
    int kept = last_only ? batch : rows;
    const float *x_query = x, *q = qkv;
    ptrdiff_t q_stride = 3 * d;
    if (last_only) {
        /* Keys and values of every row into qkv[:, d:3d]; the last row's query of each user
         * into `hidden`, free until the feed-forward. */
        linear(x, d, rows, d, w->qkv_w + d, 3 * d, 2 * d, w->qkv_b + d, NULL, 0, qkv + d,
               3 * d);
        for (int b = 0; b < batch; b++)
            memcpy(last + (ptrdiff_t)b * d, x + (offsets[b + 1] - 1) * d, sizeof(float) * d);
        linear(last, d, batch, d, w->qkv_w, 3 * d, d, w->qkv_b, NULL, 0, hidden, d);
        x_query = last, q = hidden, q_stride = d;
    } else {
        linear(x, d, rows, d, w->qkv_w, 3 * d, 3 * d, w->qkv_b, NULL, 0, qkv, 3 * d);
    }
    for (int b = 0; b < batch; b++) {
        int first = (int)offsets[b], width = (int)(offsets[b + 1] - offsets[b]);
        int queries = last_only ? 1 : width, at = last_only ? b : first;
        attend(q + at * q_stride, q_stride, queries, qkv + (ptrdiff_t)first * 3 * d + d, 3 * d,
               width, 0, d, heads, ctx + (ptrdiff_t)at * d, weights);
    }
    /* mixed = ctx @ o + o_b + x_query, normalised; then the feed-forward and its residual. */
    linear(ctx, d, kept, d, w->o_w, d, d, w->o_b, x_query, d, out, d);
    layer_norm(out, kept, d, w->ln1_g, w->ln1_b, eps);
    linear(out, d, kept, d, w->ff1_w, ff, ff, w->ff1_b, NULL, 0, hidden, ff);
    gelu(hidden, (size_t)kept * ff);
    linear(hidden, ff, kept, ff, w->ff2_w, d, d, w->ff2_b, out, d, out, d);
    layer_norm(out, kept, d, w->ln2_g, w->ln2_b, eps);
}

int get(PyObject *obj, Buffer *b, int writable, Py_ssize_t floats, const char *name) {
    if (PyObject_GetBuffer(obj, &b->view, writable ? PyBUF_WRITABLE : PyBUF_SIMPLE) < 0)
        return -1;
    b->held = 1;
    if (b->view.len < floats * (Py_ssize_t)sizeof(float)) {
        PyErr_Format(PyExc_ValueError, "%s holds %zd bytes, needs %zd", name, b->view.len,
                     floats * (Py_ssize_t)sizeof(float));
        return -1;
    }
    return 0;
}

void release(Buffer *buffers, int n) {
    for (int i = 0; i < n; i++)
        if (buffers[i].held) PyBuffer_Release(&buffers[i].view);
}

int raise_for(int status, const char *message) {
    if (status == -2)
        PyErr_NoMemory();
    else if (status != 0)
        PyErr_SetString(PyExc_IndexError, message);
    return status;
}

/* n halves (IEEE float16 bits) as floats, exactly. The portable version is the bit
 * arithmetic of half_to_float; x86 CPUs with F16C (every AVX2 one) convert in one instruction
 * per vector, chosen at run time as GCC's target_clones cannot pick intrinsics. */
CLONES static void halves_portable(const uint16_t *in, float *out, ptrdiff_t n) {
    ptrdiff_t i = 0;
    for (; i + 2 * LANES <= n; i += 2 * LANES) {
        vi words = load_words(in + i);
        store(out + i, widen_half(words, 0));
        store(out + i + LANES, widen_half(words, 1));
    }
    for (; i < n; i++) out[i] = half_scalar(in[i]);
}

typedef void (*Widen)(const uint16_t *, float *, ptrdiff_t);

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>

__attribute__((target("avx,f16c"))) static void halves_f16c(const uint16_t *in, float *out,
                                                           ptrdiff_t n) {
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(in + i))));
    halves_portable(in + i, out + i, n - i);
}

/* R (1 to 4) rows times one float16 panel, each vector of halves converted in a register as
 * it is read: no widened copy of the panel is written and read back, which was most of a small
 * batch's product (a lone user's, Beauty: 68 -> 29 us). The same multiply-adds in the same
 * order as `tile`, so the scores are those of the float32 product, bit for bit. */
__attribute__((target("avx512f"), always_inline)) static inline void half_tile_avx512(
    int R, const float *x, int K, const uint16_t *panel, float *out, ptrdiff_t out_stride,
    int width) {
    __m512 acc[4][4];
    for (int r = 0; r < R; r++)
        for (int q = 0; q < 4; q++) acc[r][q] = _mm512_setzero_ps();
    for (int k = 0; k < K; k++) {
        __m512 col[4];
        for (int q = 0; q < 4; q++)
            col[q] = _mm512_cvtph_ps(
                _mm256_loadu_si256((const __m256i *)(panel + (ptrdiff_t)k * PANEL + q * 16)));
        for (int r = 0; r < R; r++) {
            __m512 s = _mm512_set1_ps(x[(ptrdiff_t)r * K + k]);
            for (int q = 0; q < 4; q++) acc[r][q] = _mm512_fmadd_ps(s, col[q], acc[r][q]);
        }
    }
    for (int q = 0; q < 4; q++) {
        int left = width - 16 * q;
        __mmask16 keep = left >= 16 ? 0xffff : (left > 0 ? (__mmask16)((1u << left) - 1) : 0);
        for (int r = 0; r < R; r++)
            _mm512_mask_storeu_ps(out + r * out_stride + 16 * q, keep, acc[r][q]);
    }
}

/* out (rows x N, row-major) = x (rows x K) times the float16 panels, panel by panel (each read
 * from memory once for all rows), four rows at a time. */
__attribute__((target("avx512f"))) static void product_half_avx512(const float *x, int rows, int K,
                                                                  const uint16_t *panels, int N,
                                                                  float *out) {
    ptrdiff_t count = (N + PANEL - 1) / PANEL;
    for (ptrdiff_t p = 0; p < count; p++) {
        const uint16_t *panel = panels + p * K * PANEL;
        int j = (int)(p * PANEL), width = N - j < PANEL ? N - j : PANEL;
        int r = 0;
        for (; r + 4 <= rows; r += 4)
            half_tile_avx512(4, x + (ptrdiff_t)r * K, K, panel, out + (ptrdiff_t)r * N + j, N,
                             width);
        const float *xr = x + (ptrdiff_t)r * K;
        float *o = out + (ptrdiff_t)r * N + j;
        switch (rows - r) {
        case 3: half_tile_avx512(3, xr, K, panel, o, N, width); break;
        case 2: half_tile_avx512(2, xr, K, panel, o, N, width); break;
        case 1: half_tile_avx512(1, xr, K, panel, o, N, width); break;
        default: break;
        }
    }
}

/* The same for AVX2 CPUs (16 vector registers of 8 floats): R rows times Q vectors of 8
 * columns of a panel (`panel` points at the first), converted in registers with F16C. Four
 * rows take 2 vectors, two rows 4, a lone row all 8: 8 sums in flight within 16 registers,
 * enough to cover the multiply-add latency. Columns from `width` on are not stored. Same
 * multiply-adds in the same order as `tile`. */
#define AVX2 __attribute__((target("avx2,fma,f16c")))
AVX2 __attribute__((always_inline)) static inline void half_tile_avx2(
    int R, int Q, const float *x, int K, const uint16_t *panel, float *out, ptrdiff_t out_stride,
    int width) {
    __m256 acc[4][8];
    for (int r = 0; r < R; r++)
        for (int q = 0; q < Q; q++) acc[r][q] = _mm256_setzero_ps();
    for (int k = 0; k < K; k++) {
        __m256 col[8];
        for (int q = 0; q < Q; q++)
            col[q] = _mm256_cvtph_ps(
                _mm_loadu_si128((const __m128i *)(panel + (ptrdiff_t)k * PANEL + q * 8)));
        for (int r = 0; r < R; r++) {
            __m256 s = _mm256_broadcast_ss(x + (ptrdiff_t)r * K + k);
            for (int q = 0; q < Q; q++) acc[r][q] = _mm256_fmadd_ps(s, col[q], acc[r][q]);
        }
    }
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int q = 0; q < Q; q++) {
        __m256i keep = _mm256_cmpgt_epi32(_mm256_set1_epi32(width - 8 * q), lane);
        for (int r = 0; r < R; r++)
            _mm256_maskstore_ps(out + r * out_stride + 8 * q, keep, acc[r][q]);
    }
}

AVX2 static void product_half_avx2(const float *x, int rows, int K, const uint16_t *panels, int N,
                                   float *out) {
    ptrdiff_t count = (N + PANEL - 1) / PANEL;
    for (ptrdiff_t p = 0; p < count; p++) {
        const uint16_t *panel = panels + p * K * PANEL;
        int j = (int)(p * PANEL), width = N - j < PANEL ? N - j : PANEL;
        int r = 0;
        for (; r + 4 <= rows; r += 4)
            for (int c = 0; c < PANEL; c += 16)
                half_tile_avx2(4, 2, x + (ptrdiff_t)r * K, K, panel + c,
                               out + (ptrdiff_t)r * N + j + c, N, width - c);
        for (; r + 2 <= rows; r += 2)
            for (int c = 0; c < PANEL; c += 32)
                half_tile_avx2(2, 4, x + (ptrdiff_t)r * K, K, panel + c,
                               out + (ptrdiff_t)r * N + j + c, N, width - c);
        if (r < rows)
            half_tile_avx2(1, 8, x + (ptrdiff_t)r * K, K, panel, out + (ptrdiff_t)r * N + j, N,
                           width);
    }
}

typedef void (*HalfProduct)(const float *, int, int, const uint16_t *, int, float *);

/* The float16 product that converts in registers on this CPU for `rows` rows, or NULL: then
 * the panels are widened one at a time. (Each keeps its own loop over the panels: called per
 * panel through a pointer, GCC kept the AVX2 lone-row tile's accumulators on the stack, and
 * one user's product went from ~40 to ~68 us.) */
static HalfProduct half_product_for_cpu(int rows) {
#if defined(WIDE_BUILD)
    /* On Intel cores a vector conversion takes the two ports the multiply-adds run on: the
     * 4-row tile spends a third of them converting. From 32 rows a panel widened once into L1
     * serves every row with the 16-float tile (Xeon, 2026-11-27, both ways alternating in one
     * process, median us per user at 32 / 64 rows: 12,101 items 16.1 / 16.5 -> 13.9 / 12.6,
     * 100k items 142.5 / 156.6 -> 132.0 / 120.7; from 8 to 24 rows converting in registers was
     * as fast or faster). On a Zen 5 core converting in registers stayed faster at 64 rows
     * (2026-11-28, the same way: 6.36 against 6.72 us per user at 12,101 items, 67.25 against
     * 72.26 at 100k). */
    if (rows >= 32 && __builtin_cpu_is("intel")) return NULL;
#endif
    if (__builtin_cpu_supports("avx512f")) return product_half_avx512;
    /* With AVX2, every 4 rows convert each vector of halves again: 10 vector operations per 8
     * multiply-adds, where a panel widened once into L1 serves all rows with 8 and a fraction.
     * From 5 rows on that wins on a Zen 3 core (16 users x 12,101 items: 68-75 -> 55-58 us
     * per user; 4 rows: 69-70 against 79-81). */
    if (rows <= 4 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
        __builtin_cpu_supports("f16c"))
        return product_half_avx2;
    return NULL;
}

/* The converter of a kind (0 portable, 1 F16C) when this CPU runs it, else NULL. AVX-512 CPUs
 * and AVX2 ones for up to 4 rows convert inside the product instead (half_product_for_cpu). */
static Widen widen_of_kind(int kind) {
    if (kind == 1)
        return __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx") ? halves_f16c
                                                                               : NULL;
    return kind == 0 ? halves_portable : NULL;
}
#else
static Widen widen_of_kind(int kind) { return kind == 0 ? halves_portable : NULL; }
#endif

static Widen widen_for_cpu(void) {
    Widen f16c = widen_of_kind(1);
    return f16c ? f16c : halves_portable;
}

/* Rows items[0:n] of a (table_rows, d) table of float32 (half == 0) or float16 bits (half ==
 * 1) into x as float32, exactly; -1 on an id outside the table. Here rather than numpy's fancy
 * indexing (and, for float16, a take through a 256 KB table of floats) in the caller: at
 * batch 1 those calls were ~5 us of a ~54 us recommendation (cProfile, Beauty, Zen 5). */
static int gather_rows(const char *table, int half, ptrdiff_t table_rows, const int64_t *items,
                       ptrdiff_t n, int d, float *x) {
    for (ptrdiff_t i = 0; i < n; i++)
        if (items[i] < 0 || items[i] >= table_rows) return -1;
    Widen widen = half ? widen_for_cpu() : NULL;
    size_t row_bytes = (size_t)d * (half ? sizeof(uint16_t) : sizeof(float));
    for (ptrdiff_t i = 0; i < n; i++) {
        /* Scattered rows of a table larger than the cache: ask for the next ones meanwhile. */
        if (i + 4 < n) {
            const char *ahead = table + (size_t)items[i + 4] * row_bytes;
            for (size_t at = 0; at < row_bytes; at += 64) __builtin_prefetch(ahead + at);
        }
        const char *row = table + (size_t)items[i] * row_bytes;
        if (widen)
            widen((const uint16_t *)row, x + i * d, d);
        else
            memcpy(x + i * d, row, row_bytes);
    }
    return 0;
}

static PyObject *py_encode(PyObject *self, PyObject *args) {
    PyObject *table_obj, *histories_obj, *positions_obj, *weights_obj, *out_obj;
    int half, max_len, d, heads, ff, layers;
    float eps;
    if (!PyArg_ParseTuple(args, "OpOOiOiiiifO", &table_obj, &half, &histories_obj,
                          &positions_obj, &max_len, &weights_obj, &d, &heads, &ff, &layers, &eps,
                          &out_obj))
        return NULL;
    Py_ssize_t batch = PyObject_Length(histories_obj);
    if (batch < 0) return NULL;
    if (batch < 1 || batch > INT32_MAX || max_len < 1 || d < 1 || heads < 1 || d % heads ||
        ff < 1 || layers < 1) {
        PyErr_SetString(PyExc_ValueError, "encode: bad dimensions");
        return NULL;
    }
    /* The sizes `unpack` walks: four matrices, the qkv and ff1 biases, six d-sized vectors. */
    ptrdiff_t per_block = (ptrdiff_t)d * 3 * d + (ptrdiff_t)d * d + (ptrdiff_t)d * ff +
                          (ptrdiff_t)ff * d + 3 * d + ff + 6 * d;
    Buffer buffers[5] = {{.held = 0}};
    PyObject *result = NULL;
    float *scratch = NULL;
    /* Each history's last max_len items; an empty one as item 0 alone, its row zeroed below. */
    Joined histories;
    if (join_groups(histories_obj, NULL, batch, max_len, 0, 1, "histories", &histories) < 0)
        return NULL;
    const int64_t *offsets = histories.offsets;
    ptrdiff_t rows = (ptrdiff_t)offsets[batch];
    int longest = 0;
    for (Py_ssize_t b = 0; b < batch; b++) {
        int width = (int)(offsets[b + 1] - offsets[b]);
        longest = width > longest ? width : longest;
    }
    if (rows > INT32_MAX / 4) {
        PyErr_SetString(PyExc_ValueError, "encode: too many history items in one call");
        goto done;
    }
    if (get(table_obj, &buffers[0], 0, 0, "table") < 0 ||
        get(weights_obj, &buffers[1], 0, 2 * d + layers * per_block, "weights") < 0 ||
        get(out_obj, &buffers[2], 1, (ptrdiff_t)batch * d, "out") < 0 ||
        get(positions_obj, &buffers[3], 0, (ptrdiff_t)max_len * d, "positions") < 0)
        goto done;
    ptrdiff_t table_rows =
        buffers[0].view.len / ((Py_ssize_t)d * (half ? sizeof(uint16_t) : sizeof(float)));
    /* The input rows, qkv, ctx, the other half of the ping-pong, hidden (also the last rows'
     * queries), the last rows, attention weights (and a vector's room past them, see
     * exp_weights). */
    ptrdiff_t hidden_floats = rows * ff > (ptrdiff_t)batch * d ? rows * ff : (ptrdiff_t)batch * d;
    size_t floats =
        (size_t)(rows * 6 * d + hidden_floats + (ptrdiff_t)batch * d + longest + LANES);
    if (!(scratch = line_alloc(floats * sizeof(float)))) {
        PyErr_NoMemory();
        goto done;
    }
    float *x = scratch, *out = buffers[2].view.buf;
    const float *p = buffers[1].view.buf, *positions = buffers[3].view.buf;
    int status;
    Py_BEGIN_ALLOW_THREADS;
    status = gather_rows(buffers[0].view.buf, half, table_rows, histories.values, rows, d, x);
    if (status == 0) {
        /* Position embeddings: a history's last item at the last position (max_len - 1). */
        for (Py_ssize_t b = 0; b < batch; b++) {
            int width = (int)(offsets[b + 1] - offsets[b]);
            for (int j = 0; j < width; j++) {
                float *row = x + (offsets[b] + j) * d;
                const float *position = positions + (ptrdiff_t)(max_len - width + j) * d;
                for (int c = 0; c < d; c++) row[c] += position[c];
            }
        }
        float *qkv = x + rows * d, *ctx = qkv + rows * 3 * d, *spare = ctx + rows * d;
        float *hidden = spare + rows * d, *last = hidden + hidden_floats;
        float *weights = last + (ptrdiff_t)batch * d;
        layer_norm(x, (int)rows, d, p, p + d, eps);
        p += 2 * d;
        for (int layer = 0; layer < layers; layer++) {
            Block w;
            p = unpack(p, &w, d, ff);
            int final = layer == layers - 1;
            block(&w, x, (int)batch, offsets, d, heads, ff, eps, final, qkv, ctx, hidden, weights,
                  last, final ? out : spare);
            /* The block's output is the next one's input: swap the buffers instead of copying. */
            float *input = x;
            x = spare, spare = input;
        }
        for (Py_ssize_t b = 0; b < batch; b++)
            if (histories.empty[b]) memset(out + b * d, 0, sizeof(float) * (size_t)d);
    }
    Py_END_ALLOW_THREADS;
    if (raise_for(status, "encode: an item id is outside the table")) goto done;
    result = Py_NewRef(Py_None);
done:
    free(scratch);
    joined_free(&histories);
    release(buffers, 5);
    return result;
}

/* widen(halves, n, out, kind): each converter on its own, for the tests (False when this CPU
 * lacks the kind's instructions). */
static PyObject *py_widen(PyObject *self, PyObject *args) {
    PyObject *in_obj, *out_obj;
    Py_ssize_t n;
    int kind;
    if (!PyArg_ParseTuple(args, "OnOi", &in_obj, &n, &out_obj, &kind)) return NULL;
    if (n < 0) {
        PyErr_SetString(PyExc_ValueError, "widen: bad length");
        return NULL;
    }
    Widen widen = widen_of_kind(kind);
    if (!widen) Py_RETURN_FALSE;
    Buffer b[2] = {{.held = 0}};
    PyObject *result = NULL;
    if (get(in_obj, &b[0], 0, 0, "halves") < 0 || get(out_obj, &b[1], 1, n, "out") < 0)
        goto done;
    if (b[0].view.len < n * 2) { /* halves: get() counts 4-byte units */
        PyErr_SetString(PyExc_ValueError, "widen: fewer halves than n");
        goto done;
    }
    widen(b[0].view.buf, b[1].view.buf, n);
    result = Py_NewRef(Py_True);
done:
    release(b, 2);
    return result;
}

/* matmul and matmul_half: the item table as (ceil(N / PANEL), K, PANEL) panels of float32, or
 * of float16: converted in registers with AVX-512 (on Intel, below 32 rows) or, up to 4 rows,
 * AVX2 (half_product_for_cpu), elsewhere widened one panel at a time into a scratch block that
 * stays in L1 while every row reads it. Half the bytes per item: a lone user's product reads
 * the table at about half the cost (the table, not the arithmetic, bounds small batches). */
static PyObject *product(PyObject *args, int half) {
    PyObject *x_obj, *w_obj, *out_obj;
    int rows, K, N, direct = 1;
    if (!PyArg_ParseTuple(args, "OiiOiO|p", &x_obj, &rows, &K, &w_obj, &N, &out_obj, &direct))
        return NULL;
    if (rows < 0 || K < 1 || N < 0) {
        PyErr_SetString(PyExc_ValueError, "matmul: bad dimensions");
        return NULL;
    }
    Buffer buffers[3] = {{.held = 0}};
    PyObject *result = NULL;
    float *scratch = NULL;
    ptrdiff_t panels = (N + PANEL - 1) / PANEL, panel_size = (ptrdiff_t)K * PANEL;
    /* get() counts float-sized units: two halves make one. */
    if (get(x_obj, &buffers[0], 0, (ptrdiff_t)rows * K, "x") < 0 ||
        get(w_obj, &buffers[1], 0, panels * panel_size / (half ? 2 : 1), "panels") < 0 ||
        get(out_obj, &buffers[2], 1, (ptrdiff_t)rows * N, "out") < 0)
        goto done;
    const float *x = buffers[0].view.buf;
    float *out = buffers[2].view.buf;
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    HalfProduct in_registers = half && direct ? half_product_for_cpu(rows) : NULL;
    if (in_registers) {
        Py_BEGIN_ALLOW_THREADS;
        in_registers(x, rows, K, buffers[1].view.buf, N, out);
        Py_END_ALLOW_THREADS;
        result = Py_NewRef(Py_None);
        goto done;
    }
#endif
    /* The widened panel (float16 panels), then the last panel's full-width products. */
    size_t scratch_floats = (size_t)(panel_size + (ptrdiff_t)rows * PANEL);
    if (!(scratch = line_alloc(sizeof(float) * scratch_floats))) {
        PyErr_NoMemory();
        goto done;
    }
    Widen widen = half ? widen_for_cpu() : NULL;
    Py_BEGIN_ALLOW_THREADS;
    /* Panel p holds columns p*PANEL.. as a contiguous K x PANEL block: the rows of a block of
     * columns are one read, where a row-major (K, N) table spreads them N floats apart. */
    for (ptrdiff_t p = 0; p < panels; p++) {
        int j = (int)(p * PANEL), width = N - j < PANEL ? N - j : PANEL;
        const float *w;
        if (half) {
            widen((const uint16_t *)buffers[1].view.buf + p * panel_size, scratch, panel_size);
            w = scratch;
        } else {
            w = (const float *)buffers[1].view.buf + p * panel_size;
        }
        if (width == PANEL) {
            linear(x, K, rows, K, w, PANEL, PANEL, NULL, NULL, 0, out + j, N);
            continue;
        }
        /* A partial panel is zero-padded: all its columns through the vector tile, as
         * the in-register products do, so both give the same bits; then the real ones kept. */
        float *last = scratch + panel_size;
        linear(x, K, rows, K, w, PANEL, PANEL, NULL, NULL, 0, last, PANEL);
        for (int r = 0; r < rows; r++)
            memcpy(out + (ptrdiff_t)r * N + j, last + (ptrdiff_t)r * PANEL, sizeof(float) * width);
    }
    Py_END_ALLOW_THREADS;
    result = Py_NewRef(Py_None);
done:
    free(scratch);
    release(buffers, 3);
    return result;
}

static PyObject *py_matmul(PyObject *self, PyObject *args) { return product(args, 0); }

static PyObject *py_matmul_half(PyObject *self, PyObject *args) { return product(args, 1); }

/* Each score of row[0:n] becomes exp(score - the row's maximum); returns their sum. A softmax
 * divides by it; a ranking needs no division (see top_k_hybrid in _select.c). */
CLONES float exp_row(float *row, ptrdiff_t n) {
    /* Four running maxima: with one, the chain of its vmax (three dependent instructions
     * where vmaxps is missing) was 43% of the softmax (perf, 12,101 items, AVX-512). */
    vf most[4] = {splat(-INFINITY), splat(-INFINITY), splat(-INFINITY), splat(-INFINITY)};
    ptrdiff_t i = 0;
    for (; i + 4 * LANES <= n; i += 4 * LANES)
        for (int q = 0; q < 4; q++) most[q] = vmax(load(row + i + q * LANES), most[q]);
    for (; i + LANES <= n; i += LANES) most[0] = vmax(load(row + i), most[0]);
    /* The running maxima hold no NaN (vmax drops the loaded vectors' NaN lanes). */
    float peak = hmax(vmax(vmax(most[0], most[1]), vmax(most[2], most[3])));
    for (; i < n; i++) peak = row[i] > peak ? row[i] : peak;
    vf acc = splat(0.0f);
    i = 0;
    for (; i + LANES <= n; i += LANES) {
        vf e = vexp_nonpositive(load(row + i) - peak);
        store(row + i, e);
        acc += e;
    }
    float total = hsum(acc);
    for (; i < n; i++) total += row[i] = expf(row[i] - peak);
    return total;
}

/* Row-wise softmax in place: max, then exp and its sum in one pass, then one scale. */
CLONES static void softmax(float *scores, ptrdiff_t rows, ptrdiff_t n) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        float *row = scores + r * n;
        float inv = 1.0f / exp_row(row, n);
        ptrdiff_t i = 0;
        for (; i + LANES <= n; i += LANES) store(row + i, load(row + i) * inv);
        for (; i < n; i++) row[i] *= inv;
    }
}

static PyObject *py_softmax(PyObject *self, PyObject *args) {
    PyObject *scores_obj;
    Py_ssize_t rows, n;
    if (!PyArg_ParseTuple(args, "Onn", &scores_obj, &rows, &n)) return NULL;
    if (rows < 0 || n < 1) {
        PyErr_SetString(PyExc_ValueError, "softmax: bad dimensions");
        return NULL;
    }
    Buffer buffer = {.held = 0};
    PyObject *result = NULL;
    if (get(scores_obj, &buffer, 1, rows * n, "scores") < 0) goto done;
    float *scores = buffer.view.buf;
    Py_BEGIN_ALLOW_THREADS;
    softmax(scores, rows, n);
    Py_END_ALLOW_THREADS;
    result = Py_NewRef(Py_None);
done:
    release(&buffer, 1);
    return result;
}

/* out[u, j] += weight * decay^age * data[e] for every transition e (item j) of every recent
 * item of user u (items[offsets[u]:offsets[u+1]], newest first, age 0 first): the hybrid's
 * transition term, in the order numpy's add.at applies it. Ids are checked, never trusted. */
int add_transitions(float *out, ptrdiff_t users, ptrdiff_t n, const int64_t *indptr,
                    ptrdiff_t table_rows, const int32_t *indices, const float *data,
                    ptrdiff_t entries, const int64_t *items, ptrdiff_t item_count,
                    const int64_t *offsets, float decay, float weight) {
    for (ptrdiff_t u = 0; u < users; u++) {
        float *row = out + u * n;
        if (offsets[u] < 0 || offsets[u] > offsets[u + 1] || offsets[u + 1] > item_count)
            return -1;
        for (int64_t at = offsets[u]; at < offsets[u + 1]; at++) {
            int64_t item = items[at];
            if (item < 0 || item >= table_rows) return -1;
            int64_t first = indptr[item], last = indptr[item + 1];
            if (first < 0 || first > last || last > entries) return -1;
            float scale = powf(decay, (float)(at - offsets[u]));
            for (int64_t e = first; e < last; e++) {
                if (indices[e] < 0 || indices[e] >= n) return -1;
                row[indices[e]] += weight * (data[e] * scale);
            }
        }
    }
    return 0;
}

static PyObject *py_add_transitions(PyObject *self, PyObject *args) {
    PyObject *out_obj, *indptr_obj, *indices_obj, *data_obj, *items_obj, *offsets_obj;
    Py_ssize_t users, n;
    float decay, weight;
    if (!PyArg_ParseTuple(args, "OnnOOOOOff", &out_obj, &users, &n, &indptr_obj, &indices_obj,
                          &data_obj, &items_obj, &offsets_obj, &decay, &weight))
        return NULL;
    Buffer b[6] = {{.held = 0}};
    PyObject *result = NULL;
    /* Sizes in float-sized units for get(); int64 arrays count double. */
    if (get(out_obj, &b[0], 1, users * n, "out") < 0 || get(indptr_obj, &b[1], 0, 2, "indptr") < 0 ||
        get(indices_obj, &b[2], 0, 0, "indices") < 0 || get(data_obj, &b[3], 0, 0, "data") < 0 ||
        get(items_obj, &b[4], 0, 0, "items") < 0 ||
        get(offsets_obj, &b[5], 0, 2 * (users + 1), "offsets") < 0)
        goto done;
    ptrdiff_t table_rows = b[1].view.len / (Py_ssize_t)sizeof(int64_t) - 1;
    ptrdiff_t entries = b[2].view.len / (Py_ssize_t)sizeof(int32_t);
    if (b[3].view.len < entries * (Py_ssize_t)sizeof(float)) {
        PyErr_SetString(PyExc_ValueError, "add_transitions: fewer data than indices");
        goto done;
    }
    int failed;
    Py_BEGIN_ALLOW_THREADS;
    failed = add_transitions(b[0].view.buf, users, n, b[1].view.buf, table_rows, b[2].view.buf,
                             b[3].view.buf, entries, b[4].view.buf,
                             b[4].view.len / (Py_ssize_t)sizeof(int64_t), b[5].view.buf, decay,
                             weight);
    Py_END_ALLOW_THREADS;
    if (raise_for(failed, "add_transitions: an index is out of range")) goto done;
    result = Py_NewRef(Py_None);
done:
    release(b, 6);
    return result;
}

/* vectorized(): whether this CPU runs a build of the kernels whose vectors fit its registers
 * (see _native.h): on x86-64, AVX2 with FMA; elsewhere the one build. */
static PyObject *py_vectorized(PyObject *self, PyObject *args) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) Py_RETURN_FALSE;
#endif
    Py_RETURN_TRUE;
}

/* wide(): whether this CPU runs the 16-float build, edgerec.infer._native512 (x86-64-v4).
 * Asked of this module: the wide one may use AVX-512 anywhere, its import included. */
static PyObject *py_wide(PyObject *self, PyObject *args) {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    if (__builtin_cpu_supports("x86-64-v4")) Py_RETURN_TRUE;
#endif
    Py_RETURN_FALSE;
}

static PyMethodDef methods[] = {
    {"vectorized", py_vectorized, METH_NOARGS,
     "vectorized(): whether this CPU runs a build of the kernels that fits its vector "
     "registers (x86-64: AVX2 and FMA); where not, numpy is faster."},
    {"wide", py_wide, METH_NOARGS,
     "wide(): whether this CPU runs the 16-float build of the kernels (_native512)."},
    {"softmax", py_softmax, METH_VARARGS,
     "softmax(scores, rows, n): row-wise softmax of a (rows, n) float32 buffer, in place."},
    {"add_transitions", py_add_transitions, METH_VARARGS,
     "add_transitions(out, users, n, indptr, indices, data, items, offsets, decay, weight): "
     "out (users, n) += weight * the transition scores of each user's recent items."},
    {"encode", py_encode, METH_VARARGS,
     "encode(table, half, histories, positions, max_len, weights, d, heads, ff, layers, eps, "
     "out): the encoder forward pass for each history (a sequence of 1-D int32 or int64 arrays "
     "of rows of the item table, rows of d float32 or float16 when half; the last max_len of "
     "each), position embeddings (max_len, d) added here; out gets (len(histories), d), a zero "
     "row for an empty history. IndexError for an item outside the table."},
    {"matmul", py_matmul, METH_VARARGS,
     "matmul(x, rows, K, panels, N, out): out (rows, N) = x (rows, K) @ w (K, N), w packed "
     "as (ceil(N / 64), K, 64) panels of 64 columns."},
    {"widen", py_widen, METH_VARARGS,
     "widen(halves, n, out, kind): n float16 values as float32 through converter kind (0 "
     "portable, 1 F16C); False when this CPU lacks it (or for any other kind)."},
    {"matmul_half", py_matmul_half, METH_VARARGS,
     "matmul_half(x, rows, K, panels, N, out, direct=True): matmul with float16 panels, widened "
     "exactly (direct=False: a panel at a time into float32 even where AVX-512 converts in "
     "registers, for the tests)."},
    {"top_k", py_top_k, METH_VARARGS,
     "top_k(scores, rows, n, k, dropped, also_dropped, categories, codes, columns, values, "
     "kept): each row's k best columns and scores, best first (ties to the lower column), "
     "after setting its dropped and also_dropped columns (sequences of rows 1-D int32 or int64 "
     "arrays; also_dropped may be None) and, where codes[r] != -1 (codes: rows ints, or None "
     "for all -1), the columns of other categories to -inf; kept[r] counts those above -inf."},
    {"top_k_hybrid", py_top_k_hybrid, METH_VARARGS,
     "top_k_hybrid(scores, rows, n, k, dropped, also_dropped, categories, codes, columns, "
     "values, kept, indptr, indices, data, histories, history_len, decay, weight): top_k of the "
     "hybrid model's scores from the sequential model's raw ones (rows, n), overwritten: each "
     "row's softmax plus weight times the transition scores of its history's last "
     "history_len items, newest first (as add_transitions), filtered and selected row by "
     "row."},
    {"quantize", py_quantize, METH_VARARGS,
     "quantize(queries, rows, d, values, scales): float32 queries as int16 values and float32 "
     "scales for ivf_scan, as edgerec.infer._ann.quantize_queries does in numpy."},
    {"ivf_scan", py_ivf_scan, METH_VARARGS,
     "ivf_scan(vectors, scales, items, offsets, lists, queries, query_scales, batch, d, "
     "centroid_scores, probes, count, out): each query's count best positions in the int8 rows "
     "of its probes lists of best centroid score, best first, -1 padded; queries are int16, "
     "a row scores its integer product with them times both scales."},
    {"rescore", py_rescore, METH_VARARGS,
     "rescore(table, items, d, vectors, rows, candidates, width, counts, dropped, offsets, "
     "categories, codes, k, ids, scores, found): for each of rows users, the k best of its "
     "first counts[r] candidates by their float16 rows' product with its vector, skipping its "
     "dropped ids (dropped[offsets[r]:offsets[r + 1]]) and (codes[r] != -1) other categories; "
     "how many were found into found[r]."},
    {"render", py_render, METH_VARARGS,
     "render(columns, rows, width, counts, scores, ids, id_width, items, suffixes, offsets, "
     "source): the JSON items array of each row as bytes: its first counts[r] columns (int64, "
     "rows x width), each as {\"item_id\", \"score\", \"source\"} and the item's suffix "
     "bytes (suffixes[offsets[i]:offsets[i + 1]], none when offsets is None). ids: items "
     "fixed-width UTF-8 ids (NUL-padded); scores: a JSON array of rows * width numbers."},
    {NULL, NULL, 0, NULL},
};

#if defined(EDGEREC_WIDE)
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "edgerec.infer._native512",
                                    "Compiled kernels, 16-float vectors.", -1, methods};

PyMODINIT_FUNC PyInit__native512(void) { return PyModule_Create(&module); }
#else
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "edgerec.infer._native",
                                    "Compiled encoder and scoring kernels.", -1, methods};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
#endif
