/* JSON of ranked answers: each answer's items array, from dense item indices, in one call for a
 * batch.
 *
 * Why C: in Python every item of an answer became a string fetched from the vocabulary, a
 * Ranked tuple, then a dict for orjson: ~5 us of a Beauty request's ~55 (ten items), most of it
 * waiting on memory for the id strings. Here each item's bytes are copied from the
 * vocabulary's fixed-width id array, the scores' text (orjson's, so numbers read as before)
 * and the catalog's prepared name and category.
 *
 * The reference implementation is edgerec.serve._answer (orjson on dicts); both give the same
 * bytes.
 */
#include "_native.h"

typedef struct {
    char *data;
    size_t size, capacity;
} Text;

static int reserve(Text *t, size_t more) {
    if (t->size + more <= t->capacity) return 0;
    size_t capacity = t->capacity ? t->capacity : 1024;
    while (capacity < t->size + more) capacity *= 2;
    char *data = realloc(t->data, capacity);
    if (!data) return -1;
    t->data = data, t->capacity = capacity;
    return 0;
}

static int append(Text *t, const char *s, size_t n) {
    if (reserve(t, n)) return -1;
    memcpy(t->data + t->size, s, n);
    t->size += n;
    return 0;
}

/* s[0:n] as a JSON string, escaped as orjson escapes: \" \\ \b \f \n \r \t, other control
 * characters as \u00XX, everything else (UTF-8 included) as it is. */
static int append_string(Text *t, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    if (reserve(t, 6 * n + 2)) return -1;
    char *out = t->data + t->size;
    *out++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *out++ = (char)c;
            continue;
        }
        *out++ = '\\';
        switch (c) {
        case '"': *out++ = '"'; break;
        case '\\': *out++ = '\\'; break;
        case '\b': *out++ = 'b'; break;
        case '\f': *out++ = 'f'; break;
        case '\n': *out++ = 'n'; break;
        case '\r': *out++ = 'r'; break;
        case '\t': *out++ = 't'; break;
        default:
            *out++ = 'u', *out++ = '0', *out++ = '0';
            *out++ = hex[c >> 4], *out++ = hex[c & 15];
        }
    }
    *out++ = '"';
    t->size = (size_t)(out - t->data);
    return 0;
}

/* Where each number of a JSON array of numbers (`text`, as orjson writes it: no spaces)
 * starts, and starts[count] = one past the closing bracket: number i ends at starts[i + 1] - 1.
 * Returns -1 unless there are exactly `count` of them. */
static int split_numbers(const char *text, size_t size, ptrdiff_t count, size_t *starts) {
    if (size < 2 || text[0] != '[' || text[size - 1] != ']') return -1;
    if (size == 2) return count == 0 ? 0 : -1;
    ptrdiff_t found = 0;
    starts[found++] = 1;
    for (size_t i = 1; i < size - 1; i++)
        if (text[i] == ',') {
            if (found >= count) return -1;
            starts[found++] = i + 1;
        }
    if (found != count) return -1;
    starts[found] = size;
    return 0;
}

/* One answer's items array into `text`; -1 out of memory, -2 a bad index. */
static int render_row(Text *text, const int64_t *columns, int64_t count, const char *scores,
                      const size_t *starts, const char *ids, Py_ssize_t id_width,
                      Py_ssize_t items, const char *suffixes, const int64_t *offsets,
                      Py_ssize_t suffix_bytes, const Text *after_score) {
    if (append(text, "[", 1)) return -1;
    for (int64_t j = 0; j < count; j++) {
        int64_t item = columns[j];
        if (item < 0 || item >= items) return -2;
        if (offsets && (offsets[item] < 0 || offsets[item] > offsets[item + 1] ||
                        offsets[item + 1] > suffix_bytes))
            return -2;
        const char *id = ids + item * id_width;
        if ((j && append(text, ",", 1)) || append(text, "{\"item_id\":", 11) ||
            append_string(text, id, strnlen(id, (size_t)id_width)) ||
            append(text, ",\"score\":", 9) ||
            append(text, scores + starts[j], starts[j + 1] - 1 - starts[j]) ||
            append(text, after_score->data, after_score->size) ||
            (offsets && append(text, suffixes + offsets[item],
                               (size_t)(offsets[item + 1] - offsets[item]))) ||
            append(text, "}", 1))
            return -1;
    }
    return append(text, "]", 1);
}

/* render(columns, rows, width, counts, scores, ids, id_width, items, suffixes, offsets,
 * source) -> list of bytes; see the method table in _native.c. */
PyObject *py_render(PyObject *self, PyObject *args) {
    PyObject *columns_obj, *counts_obj, *ids_obj, *suffixes_obj, *offsets_obj;
    Py_ssize_t rows, width, id_width, items, scores_size, source_size;
    const char *scores, *source;
    if (!PyArg_ParseTuple(args, "OnnOy#OnnOOy#", &columns_obj, &rows, &width, &counts_obj,
                          &scores, &scores_size, &ids_obj, &id_width, &items, &suffixes_obj,
                          &offsets_obj, &source, &source_size))
        return NULL;
    if (rows < 0 || width < 0 || id_width < 1 || items < 0) {
        PyErr_SetString(PyExc_ValueError, "render: bad dimensions");
        return NULL;
    }
    Buffer b[5] = {{.held = 0}};
    PyObject *result = NULL;
    size_t *starts = NULL;
    Text text = {0}, after_score = {0};
    int with_suffixes = offsets_obj != Py_None;
    /* Sizes in float-sized units for get(); int64 arrays count double. */
    if (get(columns_obj, &b[0], 0, 2 * rows * width, "columns") < 0 ||
        get(counts_obj, &b[1], 0, 2 * rows, "counts") < 0 || get(ids_obj, &b[2], 0, 0, "ids") < 0 ||
        (with_suffixes && (get(suffixes_obj, &b[3], 0, 0, "suffixes") < 0 ||
                           get(offsets_obj, &b[4], 0, 2 * (items + 1), "offsets") < 0)))
        goto done;
    if (b[2].view.len < items * id_width) {
        PyErr_SetString(PyExc_ValueError, "render: ids holds fewer than items * id_width bytes");
        goto done;
    }
    const int64_t *columns = b[0].view.buf, *counts = b[1].view.buf;
    if (!(starts = malloc(sizeof(size_t) * (size_t)(rows * width + 1)))) {
        PyErr_NoMemory();
        goto done;
    }
    if (split_numbers(scores, (size_t)scores_size, rows * width, starts)) {
        PyErr_SetString(PyExc_ValueError, "render: scores is not a JSON array of rows * width");
        goto done;
    }
    /* What every item repeats after its score: ,"source":"model" */
    if (append(&after_score, ",\"source\":", 10) ||
        append_string(&after_score, source, (size_t)source_size)) {
        PyErr_NoMemory();
        goto done;
    }
    if (!(result = PyList_New(rows))) goto done;
    for (Py_ssize_t r = 0; r < rows; r++) {
        if (counts[r] < 0 || counts[r] > width) {
            PyErr_SetString(PyExc_ValueError, "render: a count is outside 0..width");
            Py_CLEAR(result);
            goto done;
        }
        text.size = 0;
        int status = render_row(&text, columns + r * width, counts[r], scores,
                                starts + r * width, b[2].view.buf, id_width, items,
                                with_suffixes ? b[3].view.buf : NULL,
                                with_suffixes ? b[4].view.buf : NULL,
                                with_suffixes ? b[3].view.len : 0, &after_score);
        PyObject *row = NULL;
        if (status == -1)
            PyErr_NoMemory();
        else if (status == -2)
            PyErr_SetString(PyExc_IndexError, "render: an item index is out of range");
        else
            row = PyBytes_FromStringAndSize(text.data, (Py_ssize_t)text.size);
        if (!row) {
            Py_CLEAR(result);
            goto done;
        }
        PyList_SET_ITEM(result, r, row);
    }
done:
    free(starts), free(text.data), free(after_score.data);
    release(b, 5);
    return result;
}
