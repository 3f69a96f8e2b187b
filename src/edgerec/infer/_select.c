/* Selection kernels: the k best scores of each row after the engine's filters, and the scan
 * of the ANN index's probed lists.
 *
 * Why C: numpy finds a row's top-k in several passes (group maxima, a partition, a filter,
 * a sort), each call a few microseconds, and every filter is more calls per row. Here one pass
 * per row keeps the k best in a heap, and a block of 64 scores that holds nothing better than
 * the heap's worst costs one vector comparison; for a large k, radix selection (select_best)
 * replaces the heap.
 *
 * Also the exact rescoring of a user's ANN candidates against the float16 item table.
 *
 * The reference implementations are edgerec/serve/_topk.py, edgerec/infer/_ann.py and
 * Engine._approximate (numpy).
 */
#include "_native.h"

/* The plain x86-64 build's hand-written AVX2 loops, each run only where the CPU has AVX2 (the
 * 16-float build has its AVX-512 ones). */
#if !defined(WIDE_BUILD) && defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
#define AVX2_PATHS 1
#endif

typedef struct {
    float score;
    int64_t index;
} Entry;

/* a ranks below b: a lower score, or the same score at a higher index (ties go to the lower
 * index, as in edgerec.serve._topk). */
INLINE int below(Entry a, Entry b) {
    return a.score < b.score || (a.score == b.score && a.index > b.index);
}

/* The k best entries offered so far, as a heap whose root is the worst of them. */
typedef struct {
    Entry *heap;
    int size, k;
} Best;

static void sift_down(Entry *heap, int size) {
    Entry moving = heap[0];
    int at = 0;
    for (;;) {
        int child = 2 * at + 1;
        if (child >= size) break;
        if (child + 1 < size && below(heap[child + 1], heap[child])) child++;
        if (!below(heap[child], moving)) break;
        heap[at] = heap[child];
        at = child;
    }
    heap[at] = moving;
}

static void sift_up(Entry *heap, int at) {
    Entry moving = heap[at];
    while (at > 0) {
        int parent = (at - 1) / 2;
        if (!below(moving, heap[parent])) break;
        heap[at] = heap[parent];
        at = parent;
    }
    heap[at] = moving;
}

INLINE void offer(Best *best, float score, int64_t index) {
    if (score != score) score = -INFINITY; /* NaN ranks with the filtered items */
    Entry entry = {score, index};
    if (best->size < best->k) {
        best->heap[best->size] = entry;
        sift_up(best->heap, best->size++);
    } else if (below(best->heap[0], entry)) {
        best->heap[0] = entry;
        sift_down(best->heap, best->k);
    }
}

static int best_first(const void *a, const void *b) {
    Entry x = *(const Entry *)a, y = *(const Entry *)b;
    return below(y, x) ? -1 : below(x, y);
}

/* Sorts the kept entries best first. */
static void drain(Best *best) {
    qsort(best->heap, (size_t)best->size, sizeof(Entry), best_first);
}

/* Whether any lane of v is >= bar (NaN lanes never are). */
#if defined(WIDE_BUILD)
INLINE int any_reaching(vf v, float bar) { /* one comparison into a mask, not nine steps */
    return _mm512_cmp_ps_mask(v, _mm512_set1_ps(bar), _CMP_GE_OQ) != 0;
}
#else
INLINE int any_reaching(vf v, float bar) {
    vi m = v >= bar;
    m |= __builtin_shuffle(m, FOLD1);
    m |= __builtin_shuffle(m, FOLD2);
    if (FOLDS > 2) m |= __builtin_shuffle(m, FOLD3);
    if (FOLDS > 3) m |= __builtin_shuffle(m, FOLD4);
    return m[0] != 0;
}
#endif

/* Every score of items outside category `code` becomes -inf. */
CLONES static void keep_category(float *row, ptrdiff_t n, const int32_t *categories, int32_t code) {
    ptrdiff_t i = 0;
    vi wanted = (vi){0} + code;
    for (; i + LANES <= n; i += LANES) {
        vi category = load_words(categories + i);
        store(row + i, pick(category == wanted, load(row + i), splat(-INFINITY)));
    }
    for (; i < n; i++)
        if (categories[i] != code) row[i] = -INFINITY;
}

/* Offers the scores of row[0:n] that can be among its k best to `best`, in index order.
 *
 * With at least k blocks, a floor: the blocks fall into k strided groups, and the least of the
 * groups' largest block maxima is reached by k scores (one in each group), so every one of the
 * k best reaches it too. Only blocks whose maximum reaches the floor are read again, and in
 * them only vectors with a score that reaches the floor and, once the heap is full, beats its
 * worst. (The k-th largest block maximum, a tighter floor, took a heap replacement per rising
 * maximum: top_k of a real 12,101-score row took 8.1-10.2 us that way, 4.3-4.4 this way, on a
 * Zen 3 core.)
 * Without a floor the heap fills from the row's first k scores and its worst rises slowly:
 * many replacements when k is large. Blocks are 4 vectors when the row has k of those, else
 * one. A block maximum skips NaN (each loaded vector is vmax's first operand, whose NaN lanes
 * it drops), as a NaN score ranks with the filtered ones. `maxima` holds n / LANES floats. */
CLONES static void scan_row(const float *row, ptrdiff_t n, Best *best, float *maxima) {
    int vectors = n / (4 * LANES) >= best->k ? 4 : 1;
    ptrdiff_t block = (ptrdiff_t)vectors * LANES, blocks = n / block;
    int floored = blocks >= best->k;
    float floor = -INFINITY;
    if (floored) {
        for (ptrdiff_t b = 0; b < blocks; b++) {
            vf most = splat(-INFINITY);
            for (int v = 0; v < vectors; v++) most = vmax(load(row + b * block + v * LANES), most);
            maxima[b] = hmax(most);
        }
        floor = INFINITY;
        for (int g = 0; g < best->k; g++) {
            float group = -INFINITY;
            for (ptrdiff_t b = g; b < blocks; b += best->k)
                group = maxima[b] > group ? maxima[b] : group;
            floor = group < floor ? group : floor;
        }
    }
    for (ptrdiff_t b = 0; b <= blocks; b++) {
        if (b < blocks && floored && maxima[b] < floor) continue;
        ptrdiff_t end = b < blocks ? (b + 1) * block : n;
        for (ptrdiff_t i = b * block; i < end; i += LANES) {
            float bar = best->size < best->k ? floor : best->heap[0].score;
            /* Lanes that can't enter the heap: scores below the bar (NaN lanes never do). */
            if (i + LANES <= end && !any_reaching(load(row + i), bar)) continue;
            for (ptrdiff_t j = i; j < i + LANES && j < end; j++) {
                bar = best->size < best->k ? floor : best->heap[0].score;
                if (row[j] >= bar) offer(best, row[j], j);
            }
        }
    }
}

/* Radix selection, for a large k: the heap's replacements cost a mispredicted branch per
 * level (choosing 200 of 6,000 ANN scores took ~190 us through it). Each score becomes an
 * unsigned key in the same order (NaN as -inf, -0 as +0). One count of the keys in 2,048
 * bins over their range finds a floor that the k best reach and few others do; the keys above
 * it are sorted by key (radix sort, stable: equal keys keep the lower index first) and the
 * first k kept. Three passes over the row and a sort of about k keys, the passes without
 * branches on the scores (but for the AVX2 one keeping the keys above the floor: a branch per
 * block of 8 that holds one, about k of n / 8 blocks). */
#define RADIX_MIN_K 48
enum { KEY_BINS = 2048, KEY_BITS = 11 };

/* Scratch of best_of's radix path, grown to the longest row seen. */
typedef struct {
    uint32_t *keys, *chosen, *spare;
    int64_t *at, *spare_at;
    ptrdiff_t capacity;
} Radix;

static void radix_free(Radix *r) {
    free(r->keys), free(r->chosen), free(r->spare), free(r->at), free(r->spare_at);
    *r = (Radix){0};
}

static int radix_reserve(Radix *r, ptrdiff_t n) {
    if (n <= r->capacity) return 0;
    radix_free(r);
    size_t size = (size_t)n;
    *r = (Radix){malloc(size * 4), malloc(size * 4), malloc(size * 4), malloc(size * 8),
                 malloc(size * 8), n};
    if (r->keys && r->chosen && r->spare && r->at && r->spare_at) return 0;
    radix_free(r);
    return -1;
}

INLINE uint32_t rank_key(float score) {
    uint32_t u;
    score = score == score ? score : -INFINITY;
    score += 0.0f; /* -0 becomes +0: the two compare equal, so they must tie */
    memcpy(&u, &score, sizeof u);
    /* Negative: every bit flipped; otherwise the sign bit set. As arithmetic on the sign, not
     * a choice: GCC made the choice a branch, mispredicted on half of the ANN's scores. */
    return u ^ ((uint32_t)((int32_t)u >> 31) | 0x80000000u);
}

/* chosen/at[0:m] into descending key order, equal keys keeping their order. */
static void sort_chosen(Radix *r, ptrdiff_t m) {
    for (int shift = 0; shift < 32; shift += 8) {
        ptrdiff_t starts[257] = {0};
        for (ptrdiff_t i = 0; i < m; i++) starts[(~r->chosen[i] >> shift & 0xff) + 1]++;
        for (int b = 0; b < 256; b++) starts[b + 1] += starts[b];
        for (ptrdiff_t i = 0; i < m; i++) {
            ptrdiff_t to = starts[~r->chosen[i] >> shift & 0xff]++;
            r->spare[to] = r->chosen[i];
            r->spare_at[to] = r->at[i];
        }
        uint32_t *keys = r->chosen;
        int64_t *at = r->at;
        r->chosen = r->spare, r->at = r->spare_at;
        r->spare = keys, r->spare_at = at;
    }
}

#if defined(AVX2_PATHS)
/* select_best's first and third passes, 8 keys at a time, for AVX2 CPUs: GCC left both
 * scalar there (the three passes took a fifth of a 1M-item ANN query, perf on a Zen 3 core).
 * Each returns how many of the n it did; the scalar loops finish the rest. */
__attribute__((target("avx2"))) static ptrdiff_t keys_avx2(const float *row, ptrdiff_t n,
                                                           uint32_t *keys, uint32_t *low,
                                                           uint32_t *high) {
    __m256i least = _mm256_set1_epi32(-1), most = _mm256_setzero_si256();
    const __m256i sign = _mm256_set1_epi32(INT32_MIN);
    const __m256 floor = _mm256_set1_ps(-INFINITY);
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 score = _mm256_loadu_ps(row + i);
        score = _mm256_blendv_ps(floor, score, _mm256_cmp_ps(score, score, _CMP_ORD_Q));
        __m256i u = _mm256_castps_si256(_mm256_add_ps(score, _mm256_setzero_ps()));
        __m256i key = _mm256_xor_si256(u, _mm256_or_si256(_mm256_srai_epi32(u, 31), sign));
        _mm256_storeu_si256((__m256i *)(keys + i), key);
        least = _mm256_min_epu32(least, key);
        most = _mm256_max_epu32(most, key);
    }
    uint32_t lanes[2][8];
    _mm256_storeu_si256((__m256i *)lanes[0], least);
    _mm256_storeu_si256((__m256i *)lanes[1], most);
    for (int j = 0; j < 8; j++) {
        *low = lanes[0][j] < *low ? lanes[0][j] : *low;
        *high = lanes[1][j] > *high ? lanes[1][j] : *high;
    }
    return i;
}

/* The keys >= floor of keys[0:n], in order, into chosen and their positions into at; *m
 * counts them. Few are kept (about k of n): a block of 8 with none costs one comparison. */
__attribute__((target("avx2"))) static ptrdiff_t kept_avx2(const uint32_t *keys, ptrdiff_t n,
                                                           uint32_t floor, uint32_t *chosen,
                                                           int64_t *at, ptrdiff_t *m) {
    const __m256i bar = _mm256_set1_epi32((int)floor);
    ptrdiff_t i = 0, count = *m;
    for (; i + 8 <= n; i += 8) {
        __m256i key = _mm256_loadu_si256((const __m256i *)(keys + i));
        __m256i above = _mm256_cmpeq_epi32(_mm256_max_epu32(key, bar), key);
        unsigned bits = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(above));
        for (; bits; bits &= bits - 1) {
            int j = __builtin_ctz(bits);
            chosen[count] = keys[i + j];
            at[count++] = i + j;
        }
    }
    *m = count;
    return i;
}
#endif

/* The min(k, n) best of row[0:n] into out (see best_of). r holds n. */
static ptrdiff_t select_best(const float *row, ptrdiff_t n, ptrdiff_t k, Entry *out, Radix *r) {
    if (k > n) k = n;
    if (k <= 0) return 0;
    uint32_t low = UINT32_MAX, high = 0;
    ptrdiff_t i = 0;
#if defined(AVX2_PATHS)
    int avx2 = __builtin_cpu_supports("avx2");
    if (avx2) i = keys_avx2(row, n, r->keys, &low, &high);
#endif
    for (; i < n; i++) {
        uint32_t key = r->keys[i] = rank_key(row[i]);
        low = key < low ? key : low;
        high = key > high ? key : high;
    }
    uint32_t range = high - low;
    int shift = range >> KEY_BITS ? 32 - __builtin_clz(range) - KEY_BITS : 0;
    uint32_t counts[KEY_BINS] = {0};
    for (ptrdiff_t j = 0; j < n; j++) counts[(r->keys[j] - low) >> shift]++;
    uint32_t bin = (range >> shift), reached = counts[bin];
    while (reached < (uint32_t)k) reached += counts[--bin];
    uint32_t floor = low + (bin << shift);
    ptrdiff_t m = 0;
    i = 0;
#if defined(AVX2_PATHS)
    if (avx2) i = kept_avx2(r->keys, n, floor, r->chosen, r->at, &m);
#endif
#if defined(WIDE_BUILD)
    /* 16 keys at a time, the kept ones packed by vpcompress: the loop below stores two values
     * per key and was 38% of this selection (perf, 210 of 6,000 ANN scores). */
    const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (; i + 16 <= n && n <= INT32_MAX; i += 16) { /* lane positions are 32-bit */
        __m512i keys = _mm512_loadu_si512(r->keys + i);
        __mmask16 kept = _mm512_cmpge_epu32_mask(keys, _mm512_set1_epi32((int)floor));
        if (!kept) continue;
        __m512i at = _mm512_add_epi32(lanes, _mm512_set1_epi32((int)i));
        _mm512_mask_compressstoreu_epi32(r->chosen + m, kept, keys);
        _mm512_mask_compressstoreu_epi64(r->at + m, (__mmask8)kept,
                                         _mm512_cvtepu32_epi64(_mm512_castsi512_si256(at)));
        _mm512_mask_compressstoreu_epi64(r->at + m + __builtin_popcount(kept & 0xff),
                                         (__mmask8)(kept >> 8),
                                         _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(at, 1)));
        m += __builtin_popcount(kept);
    }
#endif
    for (; i < n; i++) { /* branch-free: write always, advance when kept */
        r->chosen[m] = r->keys[i];
        r->at[m] = i;
        m += r->keys[i] >= floor;
    }
    sort_chosen(r, m);
    for (ptrdiff_t j = 0; j < k; j++) {
        float score = row[r->at[j]];
        out[j] = (Entry){score == score ? score : -INFINITY, r->at[j]};
    }
    return k;
}

/* The min(k, n) best of row[0:n] into heap (room for k entries), best first, ties to the
 * lower index, NaN as -inf: a heap for a small k, radix selection for a large one. `maxima`
 * holds n / LANES + 1 floats. Returns how many, or -1 when out of memory. */
static ptrdiff_t best_of(const float *row, ptrdiff_t n, int k, Entry *heap, float *maxima,
                         Radix *radix) {
    if (k >= RADIX_MIN_K)
        return radix_reserve(radix, n) ? -1 : select_best(row, n, k, heap, radix);
    Best best = {heap, 0, k < n ? k : (int)n};
    if (best.k > 0) scan_row(row, n, &best, maxima);
    drain(&best);
    return best.size;
}

/* One row's filters and selection (see top_k): its banned columns (banned[first:last]) and,
 * where code != -1, other categories' columns become -inf; its k best go to columns and
 * values (-1 and -inf padded), each value times `scale`; kept gets how many are above -inf.
 * Returns -1 on a bad banned index or offsets, -2 when out of memory. */
static int top_k_row(float *row, ptrdiff_t n, int k, const int64_t *banned,
                     ptrdiff_t banned_count, int64_t first, int64_t last,
                     const int32_t *categories, int32_t code, float scale, int64_t *columns,
                     float *values, int64_t *kept, Entry *heap, float *maxima, Radix *radix) {
    if (first < 0 || first > last || last > banned_count) return -1;
    for (int64_t at = first; at < last; at++) {
        if (banned[at] < 0 || banned[at] >= n) return -1;
        row[banned[at]] = -INFINITY;
    }
    if (code != -1) keep_category(row, n, categories, code);
    ptrdiff_t size = best_of(row, n, k, heap, maxima, radix);
    if (size < 0) return -2;
    *kept = 0;
    while (*kept < size && heap[*kept].score > -INFINITY) ++*kept;
    for (int j = 0; j < k; j++) {
        columns[j] = j < size ? heap[j].index : -1;
        values[j] = j < size ? heap[j].score * scale : -INFINITY;
    }
    return 0;
}

/* The hybrid model's transition table and each row's recent items (see add_transitions). */
typedef struct {
    const int64_t *indptr, *items, *offsets;
    const int32_t *indices;
    const float *data;
    ptrdiff_t table_rows, entries, item_count;
    float decay, weight;
} Transitions;

/* Asks for row r's transition entries (its recent items' segments of indices and data) ahead
 * of their use: they lie scattered through a table larger than the L2 (19 MB, Beauty), and
 * the row before is selected meanwhile. Bad ids are skipped here, refused by add_transitions. */
static void prefetch_transitions(const Transitions *t, ptrdiff_t r) {
    int64_t first = t->offsets[r], last = t->offsets[r + 1];
    if (first < 0 || first > last || last > t->item_count) return;
    for (int64_t at = first; at < last; at++) {
        int64_t item = t->items[at];
        if (item < 0 || item >= t->table_rows) continue;
        int64_t from = t->indptr[item], to = t->indptr[item + 1];
        if (from < 0 || from > to || to > t->entries) continue;
        for (int64_t e = from; e < to; e += 16) { /* a 64-byte line of each */
            __builtin_prefetch(t->indices + e);
            __builtin_prefetch(t->data + e);
        }
    }
}

/* Returns -1 on a bad banned index or offset, -2 when out of memory, -3 on a bad transition
 * index or item offset.
 *
 * With `hybrid`, each row holds the sequential model's raw scores and gets the hybrid's score
 * on the way, row by row while it is in cache: exp(score - max) (exp_row), then the
 * transitions times the row's sum of those, so the row is its hybrid scores times that sum:
 * the same order, and only the k kept scores are divided. Three whole-matrix passes (softmax,
 * transitions, selection) each read every row back from the L3 cache when a batch's scores
 * outgrow the L2 (3 MB at 64 users, Beauty). */
static int top_k(float *scores, ptrdiff_t rows, ptrdiff_t n, int k, const int64_t *banned,
                 ptrdiff_t banned_count, const int64_t *banned_offsets, const int32_t *categories,
                 const int32_t *codes, int64_t *columns, float *values, int64_t *kept,
                 Entry *heap, float *maxima, const Transitions *hybrid) {
    Radix radix = {0};
    int status = 0;
    /* The first row's entries too: they arrive while its softmax runs. */
    if (hybrid && rows > 0) prefetch_transitions(hybrid, 0);
    for (ptrdiff_t r = 0; r < rows && status == 0; r++) {
        float *row = scores + r * n, scale = 1.0f;
        if (hybrid) {
            if (r + 1 < rows) prefetch_transitions(hybrid, r + 1);
            float total = exp_row(row, n);
            const Transitions *t = hybrid;
            if (total != total) /* a NaN score: softmax() makes the whole row NaN, so here too */
                for (ptrdiff_t i = 0; i < n; i++) row[i] = NAN;
            else if (t->weight != 0.0f &&
                add_transitions(row, 1, n, t->indptr, t->table_rows, t->indices, t->data,
                                t->entries, t->items, t->item_count, t->offsets + r, t->decay,
                                t->weight * total))
                status = -3;
            scale = 1.0f / total;
        }
        if (status == 0)
            status = top_k_row(row, n, k, banned, banned_count, banned_offsets[r],
                               banned_offsets[r + 1], categories, codes[r], scale,
                               columns + r * k, values + r * k, kept + r, heap, maxima, &radix);
    }
    radix_free(&radix);
    return status;
}

/* top_k and top_k_hybrid: the arguments they share, then the hybrid's transition table. */
static PyObject *select_rows(PyObject *args, int hybrid) {
    PyObject *scores_obj, *dropped_obj, *also_obj, *categories_obj, *codes_obj, *columns_obj,
        *values_obj, *kept_obj, *indptr_obj = NULL, *indices_obj = NULL, *data_obj = NULL,
        *histories_obj = NULL;
    Py_ssize_t rows, n, history_len = 0;
    int k;
    Transitions t = {0};
    if (!PyArg_ParseTuple(args, hybrid ? "OnniOOOOOOOOOOOnff" : "OnniOOOOOOO", &scores_obj,
                          &rows, &n, &k, &dropped_obj, &also_obj, &categories_obj, &codes_obj,
                          &columns_obj, &values_obj, &kept_obj, &indptr_obj, &indices_obj,
                          &data_obj, &histories_obj, &history_len, &t.decay, &t.weight))
        return NULL;
    if (rows < 0 || n < 1 || k < 1 || k > n || (hybrid && history_len < 1)) {
        PyErr_SetString(PyExc_ValueError,
                        "top_k: bad dimensions (need 1 <= k <= n, history_len >= 1)");
        return NULL;
    }
    Buffer b[8] = {{.held = 0}};
    Joined banned = {0}, recent = {0};
    int32_t *codes = NULL;
    PyObject *result = NULL;
    Entry *heap = NULL;
    float *maxima = NULL;
    if (join_groups(dropped_obj, also_obj == Py_None ? NULL : also_obj, rows, 0, 0, 0,
                    "dropped", &banned) < 0 ||
        codes_get(codes_obj, rows, &codes) < 0)
        goto done;
    /* Sizes in float-sized units for get(); int64 arrays count double. */
    if (get(scores_obj, &b[0], 1, rows * n, "scores") < 0 ||
        get(categories_obj, &b[1], 0, n, "categories") < 0 ||
        get(columns_obj, &b[2], 1, 2 * rows * k, "columns") < 0 ||
        get(values_obj, &b[3], 1, rows * k, "values") < 0 ||
        get(kept_obj, &b[4], 1, 2 * rows, "kept") < 0)
        goto done;
    if (hybrid) {
        if (get(indptr_obj, &b[5], 0, 2, "indptr") < 0 ||
            get(indices_obj, &b[6], 0, 0, "indices") < 0 ||
            get(data_obj, &b[7], 0, 0, "data") < 0 ||
            join_groups(histories_obj, NULL, rows, history_len, 1, 0, "histories", &recent) < 0)
            goto done;
        t.indptr = b[5].view.buf, t.indices = b[6].view.buf, t.data = b[7].view.buf;
        t.items = recent.values, t.offsets = recent.offsets;
        t.table_rows = b[5].view.len / (Py_ssize_t)sizeof(int64_t) - 1;
        t.entries = b[6].view.len / (Py_ssize_t)sizeof(int32_t);
        t.item_count = recent.offsets[rows];
        if (b[7].view.len < t.entries * (Py_ssize_t)sizeof(float)) {
            PyErr_SetString(PyExc_ValueError, "top_k_hybrid: fewer data than indices");
            goto done;
        }
    }
    heap = malloc(sizeof(Entry) * (size_t)k);
    maxima = malloc(sizeof(float) * (size_t)(n / LANES + 1));
    if (!heap || !maxima) {
        PyErr_NoMemory();
        goto done;
    }
    int failed;
    Py_BEGIN_ALLOW_THREADS;
    failed = top_k(b[0].view.buf, rows, n, k, banned.values, banned.offsets[rows],
                   banned.offsets, b[1].view.buf, codes, b[2].view.buf, b[3].view.buf,
                   b[4].view.buf, heap, maxima, hybrid ? &t : NULL);
    Py_END_ALLOW_THREADS;
    if (raise_for(failed, failed == -3 ? "top_k_hybrid: a transition index is out of range"
                                       : "top_k: a dropped index is out of range"))
        goto done;
    result = Py_NewRef(Py_None);
done:
    free(heap);
    free(maxima);
    free(codes);
    joined_free(&banned);
    joined_free(&recent);
    release(b, 8);
    return result;
}

PyObject *py_top_k(PyObject *self, PyObject *args) { return select_rows(args, 0); }

PyObject *py_top_k_hybrid(PyObject *self, PyObject *args) { return select_rows(args, 1); }

/* The exact integer product of an int8 row with a quantized query: integer sums do not depend
 * on their order, so every path gives the same. A plain loop: GCC vectorizes it as int16
 * pairs multiplied and added into int32 lanes (PMADDWD, 16 or 32 products per instruction). */
INLINE int32_t dot_int8(const int8_t *row, const int16_t *query, int d) {
    int32_t s = 0;
    for (int i = 0; i < d; i++) s += (int32_t)row[i] * query[i];
    return s;
}

/* out[i] = dot * query_scale * scale[i] for `rows` int8 rows of width d against one quantized
 * query: the float steps in this order in every path and in the numpy reference. Apart from
 * the selection: a loop without data-dependent branches keeps many row reads in flight (the
 * lists are cold: a query reads ~400 KB of a 64 MB table at 1M items). */
#if defined(WIDE_BUILD)
/* The integer products of 16 rows (int8, width d, a multiple of 32) with a query (int16, in
 * `query` as d / 32 vectors), row r's in lane r. Each row sums into one vector of 16 partial
 * sums; the 16 vectors then fold together in 15 steps, where one horizontal sum per row took
 * about as many instructions as its products (perf: the scan was 29% of a 1M worker). */
INLINE __m512i products16(const int8_t *rows, int d, const __m512i *query) {
    __m512i sums[16];
    for (int r = 0; r < 16; r++) {
        const int8_t *row = rows + (ptrdiff_t)r * d;
        __m512i acc = _mm512_setzero_si512();
        for (int h = 0; h < d / 32; h++) {
            __m256i bytes = _mm256_loadu_si256((const __m256i *)(row + 32 * h));
            acc = _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_cvtepi8_epi16(bytes), query[h]));
        }
        sums[r] = acc;
    }
    /* Neighbours' 32-bit lanes, then 64-bit pairs: each 128-bit lane holds 4 rows' partials. */
    __m512i pairs[8], quads[4];
    for (int r = 0; r < 8; r++)
        pairs[r] = _mm512_add_epi32(_mm512_unpacklo_epi32(sums[2 * r], sums[2 * r + 1]),
                                    _mm512_unpackhi_epi32(sums[2 * r], sums[2 * r + 1]));
    for (int r = 0; r < 4; r++)
        quads[r] = _mm512_add_epi32(_mm512_unpacklo_epi64(pairs[2 * r], pairs[2 * r + 1]),
                                    _mm512_unpackhi_epi64(pairs[2 * r], pairs[2 * r + 1]));
    /* Then across the four 128-bit lanes: rows 0-3 in lane 0, 4-7 in lane 1, and so on. */
    __m512i low = _mm512_add_epi32(_mm512_shuffle_i32x4(quads[0], quads[1], 0x88),
                                   _mm512_shuffle_i32x4(quads[0], quads[1], 0xdd));
    __m512i high = _mm512_add_epi32(_mm512_shuffle_i32x4(quads[2], quads[3], 0x88),
                                    _mm512_shuffle_i32x4(quads[2], quads[3], 0xdd));
    return _mm512_add_epi32(_mm512_shuffle_i32x4(low, high, 0x88),
                            _mm512_shuffle_i32x4(low, high, 0xdd));
}
#endif

#if defined(AVX2_PATHS)
/* products16's fold for AVX2 CPUs (8 rows a block, d a multiple of 16, at most 512): the
 * scores of score_int8's first rows, how many returned. GCC vectorized the plain loop row by
 * row, each row ending in its own horizontal sum. On a Zen 1 core, where the scan was a quarter
 * of a 1M worker's time at its maximum (py-spy, 2026-11-28), this took the scan from 112-118
 * to 101-105 us per query (12 probes, batches of 16; throwaway, alternating builds): the rows'
 * reads from memory, not the products, are most of it. It asks for the rows 64 ahead; 16
 * ahead, or every probed list's head before the scan, made no measurable difference there. */
__attribute__((target("avx2"), always_inline)) static inline ptrdiff_t int8_rows_avx2(
    const int8_t *vectors, const float *scales, ptrdiff_t rows, int d, const int16_t *query,
    float query_scale, float *out) {
    __m256i halves[32];
    for (int h = 0; h < d / 16; h++)
        halves[h] = _mm256_loadu_si256((const __m256i *)(query + 16 * h));
    ptrdiff_t i = 0;
    for (; i + 8 <= rows; i += 8) {
        for (ptrdiff_t ahead = (i + 64) * d; ahead < (i + 72) * d && ahead < rows * d;
             ahead += 64)
            __builtin_prefetch(vectors + ahead);
        __m256i sums[8];
        for (int r = 0; r < 8; r++) {
            const int8_t *row = vectors + (i + r) * d;
            __m256i acc = _mm256_setzero_si256();
            for (int h = 0; h < d / 16; h++) {
                __m128i bytes = _mm_loadu_si128((const __m128i *)(row + 16 * h));
                acc = _mm256_add_epi32(acc,
                                       _mm256_madd_epi16(_mm256_cvtepi8_epi16(bytes), halves[h]));
            }
            sums[r] = acc;
        }
        /* Pairs, then quads: each 128-bit lane ends with rows 0-3 (then 4-7) of its half of
         * the columns; the two halves add across lanes. */
        __m256i low = _mm256_hadd_epi32(_mm256_hadd_epi32(sums[0], sums[1]),
                                        _mm256_hadd_epi32(sums[2], sums[3]));
        __m256i high = _mm256_hadd_epi32(_mm256_hadd_epi32(sums[4], sums[5]),
                                         _mm256_hadd_epi32(sums[6], sums[7]));
        __m256i dots = _mm256_add_epi32(_mm256_permute2x128_si256(low, high, 0x20),
                                        _mm256_permute2x128_si256(low, high, 0x31));
        __m256 scores = _mm256_mul_ps(_mm256_cvtepi32_ps(dots), _mm256_set1_ps(query_scale));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(scores, _mm256_loadu_ps(scales + i)));
    }
    return i;
}

/* With a constant width (64, the default model's) GCC unrolls the row's products and keeps
 * the query's vectors and the 8 rows' sums in registers; for another width they loop through
 * the stack. On a Zen 3 core that took the 1M ANN top of 64 queries from 98.2 to 77.3 us per
 * query (2026-11-28, throwaway, alternating builds). */
__attribute__((target("avx2"))) static ptrdiff_t score_int8_avx2(
    const int8_t *vectors, const float *scales, ptrdiff_t rows, int d, const int16_t *query,
    float query_scale, float *out) {
    if (d == 64) return int8_rows_avx2(vectors, scales, rows, 64, query, query_scale, out);
    return int8_rows_avx2(vectors, scales, rows, d, query, query_scale, out);
}
#endif

CLONES static void score_int8(const int8_t *vectors, const float *scales, ptrdiff_t rows, int d,
                              const int16_t *query, float query_scale, float *out) {
    ptrdiff_t i = 0;
#if defined(AVX2_PATHS)
    if (d % 16 == 0 && d <= 512 && __builtin_cpu_supports("avx2"))
        i = score_int8_avx2(vectors, scales, rows, d, query, query_scale, out);
#endif
#if defined(WIDE_BUILD)
    if (d % 32 == 0 && d <= 512) {
        __m512i halves[16];
        for (int h = 0; h < d / 32; h++) halves[h] = _mm512_loadu_si512(query + 32 * h);
        for (; i + 16 <= rows; i += 16) {
            /* A list's rows are contiguous but cold: ask for the block after next meanwhile
             * (the products waited on these reads for most of the scan). */
            for (ptrdiff_t ahead = (i + 32) * d; ahead < (i + 48) * d && ahead < rows * d;
                 ahead += 64)
                __builtin_prefetch(vectors + ahead);
            __m512 dots = _mm512_cvtepi32_ps(products16(vectors + i * d, d, halves));
            dots = _mm512_mul_ps(_mm512_mul_ps(dots, _mm512_set1_ps(query_scale)),
                                 _mm512_loadu_ps(scales + i));
            _mm512_storeu_ps(out + i, dots);
        }
    }
#endif
    for (; i < rows; i++)
        out[i] = (float)dot_int8(vectors + i * d, query, d) * query_scale * scales[i];
}

/* For each query: the `count` best positions of the int8 rows of its `probes` lists with the
 * best centroid scores (`centroid_scores`, batch x lists), best first, -1 where those lists
 * hold fewer. Positions index the index's grouped arrays. `heap` holds max(count, probes)
 * entries, `maxima` lists / LANES + 1 floats. A row's score is its exact integer product
 * with the query's int16 values (the caller bounds them so that it fits an int32) times the
 * query's and the row's scales. Returns -1 on a bad offset, -2 when out of memory. */
static int ivf_scan(const int8_t *vectors, const float *scales, ptrdiff_t items,
                    const int64_t *offsets, ptrdiff_t lists, const int16_t *queries,
                    const float *query_scales, ptrdiff_t batch, int d,
                    const float *centroid_scores, int probes, int count, int64_t *out,
                    Entry *heap, float *list_maxima, int64_t *chosen) {
    Radix radix = {0};
    float *scores = NULL, *maxima = NULL;
    ptrdiff_t capacity = 0;
    int status = 0;
    for (ptrdiff_t q = 0; q < batch && status == 0; q++) {
        Best nearest = {heap, 0, probes};
        scan_row(centroid_scores + q * lists, lists, &nearest, list_maxima);
        int probed = nearest.size; /* fewer than `probes` only with NaN centroid scores */
        for (int p = 0; p < probed; p++) chosen[p] = heap[p].index;
        ptrdiff_t total = 0;
        for (int p = 0; p < probed && status == 0; p++) {
            int64_t list = chosen[p];
            if (list < 0 || list >= lists || offsets[list] < 0 ||
                offsets[list] > offsets[list + 1] || offsets[list + 1] > items)
                status = -1;
            else
                total += offsets[list + 1] - offsets[list];
        }
        if (status == 0 && total > capacity) {
            free(scores);
            free(maxima);
            scores = malloc(sizeof(float) * (size_t)total);
            maxima = malloc(sizeof(float) * (size_t)(total / LANES + 1));
            capacity = total;
            if (!scores || !maxima) status = -2;
        }
        if (status != 0) break;
        /* The probed lists' scores, joined in probe order; then the best of them. */
        ptrdiff_t filled = 0;
        for (int p = 0; p < probed; p++) {
            int64_t first = offsets[chosen[p]], rows = offsets[chosen[p] + 1] - first;
            score_int8(vectors + first * d, scales + first, rows, d, queries + q * d,
                       query_scales[q], scores + filled);
            filled += rows;
        }
        ptrdiff_t found = best_of(scores, total, count, heap, maxima, &radix);
        if (found < 0) {
            status = -2;
            break;
        }
        for (int j = 0; j < count; j++) {
            int64_t position = -1;
            if (j < found) { /* joined index -> the list it fell in -> grouped position */
                int64_t at = heap[j].index;
                int p = 0;
                while (at >= offsets[chosen[p] + 1] - offsets[chosen[p]]) {
                    at -= offsets[chosen[p] + 1] - offsets[chosen[p]];
                    p++;
                }
                position = offsets[chosen[p]] + at;
            }
            out[q * count + j] = position;
        }
    }
    free(scores);
    free(maxima);
    radix_free(&radix);
    return status;
}

/* quantize_queries of edgerec.infer._ann, to the bit: a row's largest finite magnitude maps
 * to `limit` (the most each of d int8 x int16 products may add without an int32 overflow),
 * values are rint(q / scale) clipped to +-limit; non-finite inputs count as 0. In numpy it
 * was ~10 calls, 14-33 us per batch of 1-16 queries (Xeon, two runs); here 1.0-2.5. */
static void quantize(const float *queries, ptrdiff_t rows, int d, int16_t *values,
                     float *scales) {
    int64_t bound = INT32_MAX / (127 * (int64_t)d);
    float limit = (float)(bound < INT16_MAX ? bound : INT16_MAX);
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *q = queries + r * d;
        float peak = 0.0f;
        for (int i = 0; i < d; i++)
            if (isfinite(q[i]) && fabsf(q[i]) > peak) peak = fabsf(q[i]);
        float scale = peak > 0.0f ? peak / limit : 1.0f;
        scales[r] = scale;
        for (int i = 0; i < d; i++) {
            float x = nearbyintf((isfinite(q[i]) ? q[i] : 0.0f) / scale);
            values[r * d + i] = (int16_t)(x < -limit ? -limit : x > limit ? limit : x);
        }
    }
}

PyObject *py_quantize(PyObject *self, PyObject *args) {
    PyObject *queries_obj, *values_obj, *scales_obj;
    Py_ssize_t rows;
    int d;
    if (!PyArg_ParseTuple(args, "OniOO", &queries_obj, &rows, &d, &values_obj, &scales_obj))
        return NULL;
    if (rows < 0 || d < 1) {
        PyErr_SetString(PyExc_ValueError, "quantize: bad dimensions");
        return NULL;
    }
    Buffer b[3] = {{.held = 0}};
    PyObject *result = NULL;
    /* get() counts float-sized units; the int16 values are checked in bytes below. */
    if (get(queries_obj, &b[0], 0, rows * d, "queries") < 0 ||
        get(values_obj, &b[1], 1, 0, "values") < 0 ||
        get(scales_obj, &b[2], 1, rows, "scales") < 0)
        goto done;
    if (b[1].view.len < rows * d * 2) {
        PyErr_Format(PyExc_ValueError, "values holds %zd bytes, needs %zd", b[1].view.len,
                     rows * d * 2);
        goto done;
    }
    quantize(b[0].view.buf, rows, d, b[1].view.buf, b[2].view.buf);
    result = Py_NewRef(Py_None);
done:
    release(b, 3);
    return result;
}

PyObject *py_ivf_scan(PyObject *self, PyObject *args) {
    PyObject *vectors_obj, *scales_obj, *offsets_obj, *queries_obj, *query_scales_obj,
        *centroid_obj, *out_obj;
    Py_ssize_t items, lists, batch;
    int d, probes, count;
    if (!PyArg_ParseTuple(args, "OOnOnOOniOiiO", &vectors_obj, &scales_obj, &items,
                          &offsets_obj, &lists, &queries_obj, &query_scales_obj, &batch, &d,
                          &centroid_obj, &probes, &count, &out_obj))
        return NULL;
    if (items < 0 || lists < 1 || batch < 0 || d < 1 || probes < 1 || probes > lists ||
        count < 1) {
        PyErr_SetString(PyExc_ValueError, "ivf_scan: bad dimensions");
        return NULL;
    }
    Buffer b[7] = {{.held = 0}};
    PyObject *result = NULL;
    Entry *heap = NULL;
    float *list_maxima = NULL;
    int64_t *chosen = NULL;
    /* Sizes in float-sized units for get(), int64 arrays double; byte arrays checked below. */
    if (get(vectors_obj, &b[0], 0, 0, "vectors") < 0 ||
        get(scales_obj, &b[1], 0, items, "scales") < 0 ||
        get(offsets_obj, &b[2], 0, 2 * (lists + 1), "offsets") < 0 ||
        get(queries_obj, &b[3], 0, 0, "queries") < 0 ||
        get(query_scales_obj, &b[6], 0, batch, "query_scales") < 0 ||
        get(centroid_obj, &b[4], 0, batch * lists, "centroid_scores") < 0 ||
        get(out_obj, &b[5], 1, 2 * batch * count, "out") < 0)
        goto done;
    if (b[0].view.len < items * d || b[3].view.len < batch * d * 2) {
        PyErr_Format(PyExc_ValueError, "vectors or queries too short: %zd and %zd bytes, need "
                     "%zd and %zd", b[0].view.len, b[3].view.len, items * d, batch * d * 2);
        goto done;
    }
    heap = malloc(sizeof(Entry) * (size_t)(count > probes ? count : probes));
    list_maxima = malloc(sizeof(float) * (size_t)(lists / LANES + 1));
    chosen = malloc(sizeof(int64_t) * (size_t)probes);
    if (!heap || !list_maxima || !chosen) {
        PyErr_NoMemory();
        goto done;
    }
    int failed;
    Py_BEGIN_ALLOW_THREADS;
    failed = ivf_scan(b[0].view.buf, b[1].view.buf, items, b[2].view.buf, lists, b[3].view.buf,
                      b[6].view.buf, batch, d, b[4].view.buf, probes, count, b[5].view.buf, heap,
                      list_maxima, chosen);
    Py_END_ALLOW_THREADS;
    if (raise_for(failed, "ivf_scan: a list offset is out of range")) goto done;
    result = Py_NewRef(Py_None);
done:
    free(heap);
    free(list_maxima);
    free(chosen);
    release(b, 7);
    return result;
}

#define PREFETCH_AHEAD 8

INLINE float dot_half(const uint16_t *row, const float *vector, int d) {
    vf acc = splat(0.0f);
    int i = 0;
    for (; i + 2 * LANES <= d; i += 2 * LANES) {
        vi words = load_words(row + i);
        acc += widen_half(words, 0) * load(vector + i) + widen_half(words, 1) * load(vector + i + LANES);
    }
    float s = hsum(acc);
    for (; i < d; i++) s += half_scalar(row[i]) * vector[i];
    return s;
}

/* The k best of a user's ANN candidates by the exact product of their float16 rows with
 * `vector`, best first (ties to the earlier candidate), skipping ids outside the table, the
 * `dropped` ids and, unless code is -1, items of other categories. Returns how many it found
 * (at most k). */
CLONES static int rescore(const uint16_t *table, ptrdiff_t items, int d, const float *vector,
                          const int64_t *candidates, ptrdiff_t count, const int64_t *dropped,
                          ptrdiff_t dropped_count, const int32_t *categories, int32_t code, int k,
                          int64_t *ids, float *scores, Entry *heap) {
    Best best = {heap, 0, k};
    for (ptrdiff_t c = 0; c < count; c++) {
        /* The rows are scattered over the table: ask for a later one while this one is
         * scored, so several reads are in flight instead of one. */
        if (c + PREFETCH_AHEAD < count) {
            int64_t ahead = candidates[c + PREFETCH_AHEAD];
            if (ahead >= 0 && ahead < items) {
                __builtin_prefetch(table + ahead * d);
                __builtin_prefetch(table + ahead * d + d - 1);
            }
        }
        int64_t item = candidates[c];
        if (item < 0 || item >= items || (code != -1 && categories[item] != code)) continue;
        int seen = 0;
        for (ptrdiff_t j = 0; j < dropped_count && !seen; j++) seen = dropped[j] == item;
        if (seen) continue;
        offer(&best, dot_half(table + item * d, vector, d), c);
    }
    int found = best.size;
    drain(&best);
    for (int j = 0; j < found; j++) {
        ids[j] = candidates[heap[j].index];
        scores[j] = heap[j].score;
    }
    return found;
}

/* rescore for each of `rows` users: user r's first counts[r] candidates (row r of a rows x
 * width array), the ids of its groups dropped[r] and also_dropped[r] (None: no second
 * groups; int32 or int64 arrays, joined in _groups.c) and category codes[r] (None: any
 * category); its k best into row r of ids and scores (rows x k), how many into found[r]. One
 * call for a batch: per user, the call and its arrays cost about as much as the rescoring. */
PyObject *py_rescore(PyObject *self, PyObject *args) {
    PyObject *table_obj, *vectors_obj, *candidates_obj, *counts_obj, *dropped_obj, *also_obj,
        *categories_obj, *codes_obj, *ids_obj, *scores_obj, *found_obj;
    Py_ssize_t items, rows, width;
    int d, k;
    if (!PyArg_ParseTuple(args, "OniOnOnOOOOOiOOO", &table_obj, &items, &d, &vectors_obj, &rows,
                          &candidates_obj, &width, &counts_obj, &dropped_obj, &also_obj,
                          &categories_obj, &codes_obj, &k, &ids_obj, &scores_obj, &found_obj))
        return NULL;
    if (items < 0 || d < 1 || k < 1 || rows < 0 || width < 0) {
        PyErr_SetString(PyExc_ValueError, "rescore: bad dimensions");
        return NULL;
    }
    Buffer b[8] = {{.held = 0}};
    PyObject *result = NULL;
    Entry *heap = NULL;
    Joined banned = {0};
    int32_t *codes = NULL;
    if (join_groups(dropped_obj, also_obj == Py_None ? NULL : also_obj, rows, 0, 0, 0,
                    "dropped", &banned) < 0 ||
        codes_get(codes_obj, rows, &codes) < 0)
        goto done;
    /* Sizes in float-sized units for get(): int64 arrays count double; the float16 table's
     * bytes and the categories (needed only where a code asks for one) are checked below. */
    if (get(table_obj, &b[0], 0, 0, "table") < 0 ||
        get(vectors_obj, &b[1], 0, rows * d, "vectors") < 0 ||
        get(candidates_obj, &b[2], 0, 2 * rows * width, "candidates") < 0 ||
        get(counts_obj, &b[3], 0, 2 * rows, "counts") < 0 ||
        get(categories_obj, &b[4], 0, 0, "categories") < 0 ||
        get(ids_obj, &b[5], 1, 2 * rows * k, "ids") < 0 ||
        get(scores_obj, &b[6], 1, rows * k, "scores") < 0 ||
        get(found_obj, &b[7], 1, 2 * rows, "found") < 0)
        goto done;
    if (b[0].view.len < items * d * (Py_ssize_t)sizeof(uint16_t)) {
        PyErr_Format(PyExc_ValueError, "table holds %zd bytes, needs %zd", b[0].view.len,
                     items * d * (Py_ssize_t)sizeof(uint16_t));
        goto done;
    }
    const int64_t *counts = b[3].view.buf, *offsets = banned.offsets;
    int any_category = 0;
    for (Py_ssize_t r = 0; r < rows; r++) {
        if (counts[r] < 0 || counts[r] > width) {
            PyErr_SetString(PyExc_ValueError, "rescore: bad candidate counts");
            goto done;
        }
        any_category |= codes[r] != -1;
    }
    if (any_category && b[4].view.len < items * (Py_ssize_t)sizeof(int32_t)) {
        PyErr_Format(PyExc_ValueError, "categories holds %zd bytes, needs %zd", b[4].view.len,
                     items * (Py_ssize_t)sizeof(int32_t));
        goto done;
    }
    heap = malloc(sizeof(Entry) * (size_t)k);
    if (!heap) {
        PyErr_NoMemory();
        goto done;
    }
    const float *vectors = b[1].view.buf;
    const int64_t *candidates = b[2].view.buf;
    int64_t *ids = b[5].view.buf, *found = b[7].view.buf;
    float *scores = b[6].view.buf;
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t r = 0; r < rows; r++)
        found[r] = rescore(b[0].view.buf, items, d, vectors + r * d, candidates + r * width,
                           counts[r], banned.values + offsets[r], offsets[r + 1] - offsets[r],
                           b[4].view.buf, codes[r], k, ids + r * k, scores + r * k, heap);
    Py_END_ALLOW_THREADS;
    result = Py_NewRef(Py_None);
done:
    free(heap);
    free(codes);
    joined_free(&banned);
    release(b, 8);
    return result;
}
