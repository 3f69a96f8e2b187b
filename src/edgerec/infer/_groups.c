/* Ragged integer inputs read straight from Python: a sequence of 1-D int32 or int64 arrays,
 * one group per row (a user's history, their excluded items), joined here into one int64
 * array and its offsets. Joining them with numpy before each call cost a batch-1 request
 * more Python than the kernels' own set-up (cutting, reversing, concatenating, ~12 us).
 *
 * No vector code: the same object serves both builds of the extension.
 */
#include "_native.h"

/* The integer width of a 1-D buffer's items: 4 or 8, or 0 for anything else. */
static int integer_width(const Py_buffer *view) {
    const char *format = view->format ? view->format : "B";
    if (*format == '@' || *format == '=' || *format == '<') format++;
    if (view->ndim != 1 || format[0] == '\0' || format[1] != '\0') return 0;
    if (!strchr("ilq", format[0])) return 0;
    return view->itemsize == 4 || view->itemsize == 8 ? (int)view->itemsize : 0;
}

/* Item i of a 1-D integer buffer, strided (a reversed view, say) or not. */
static int64_t item_at(const Py_buffer *view, Py_ssize_t i) {
    const char *at = (const char *)view->buf + i * view->strides[0];
    return view->itemsize == 4 ? *(const int32_t *)at : *(const int64_t *)at;
}

/* Holds each group's buffer (`views`, `count` of them, those with `held` set). */
typedef struct {
    Py_buffer *views;
    char *held;
    Py_ssize_t count;
} Views;

static void views_release(Views *v) {
    for (Py_ssize_t r = 0; r < v->count; r++)
        if (v->held[r]) PyBuffer_Release(&v->views[r]);
    PyMem_Free(v->views);
    PyMem_Free(v->held);
}

/* Each item of `sequence` (exactly `count` of them) as an integer buffer. An empty group may
 * have any item type (numpy's empty array is float64). */
static int views_get(PyObject *sequence, Py_ssize_t count, const char *name, Views *v) {
    v->count = 0;
    v->views = PyMem_Calloc((size_t)count + 1, sizeof(Py_buffer));
    v->held = PyMem_Calloc((size_t)count + 1, 1);
    if (!v->views || !v->held) {
        PyErr_NoMemory();
        return -1;
    }
    PyObject *fast = PySequence_Fast(sequence, name);
    if (!fast) return -1;
    if (PySequence_Fast_GET_SIZE(fast) != count) {
        PyErr_Format(PyExc_ValueError, "%s: %zd groups, expected %zd", name,
                     PySequence_Fast_GET_SIZE(fast), count);
        Py_DECREF(fast);
        return -1;
    }
    PyObject **items = PySequence_Fast_ITEMS(fast);
    int status = 0;
    for (Py_ssize_t r = 0; r < count && status == 0; r++) {
        Py_buffer *view = &v->views[r];
        if (PyObject_GetBuffer(items[r], view, PyBUF_STRIDES | PyBUF_FORMAT) < 0) {
            status = -1;
            break;
        }
        v->held[r] = 1;
        v->count = r + 1;
        if (view->len > 0 && !integer_width(view)) {
            PyErr_Format(PyExc_TypeError, "%s: group %zd is not an int32 or int64 array", name,
                         r);
            status = -1;
        }
    }
    Py_DECREF(fast);
    return status;
}

static Py_ssize_t view_length(const Py_buffer *view) {
    return view->len > 0 ? view->len / view->itemsize : 0;
}

void joined_free(Joined *j) {
    free(j->values);
    free(j->offsets);
    free(j->empty);
    *j = (Joined){0};
}

int join_groups(PyObject *first, PyObject *second, Py_ssize_t count, Py_ssize_t tail,
                int reverse, int pad_empty, const char *name, Joined *out) {
    *out = (Joined){0};
    Views a = {0}, b = {0};
    int status = -1;
    if (views_get(first, count, name, &a) < 0) goto done;
    if (second && views_get(second, count, name, &b) < 0) goto done;
    out->offsets = malloc(sizeof(int64_t) * ((size_t)count + 1));
    if (pad_empty) out->empty = calloc((size_t)count + 1, 1);
    if (!out->offsets || (pad_empty && !out->empty)) {
        PyErr_NoMemory();
        goto done;
    }
    /* Sizes first: one allocation for every value. */
    int64_t total = 0;
    out->offsets[0] = 0;
    for (Py_ssize_t r = 0; r < count; r++) {
        Py_ssize_t length = view_length(&a.views[r]);
        if (tail > 0 && length > tail) length = tail;
        if (second) length += view_length(&b.views[r]);
        if (length == 0 && pad_empty) length = 1, out->empty[r] = 1;
        total += length;
        out->offsets[r + 1] = total;
    }
    out->values = malloc(sizeof(int64_t) * ((size_t)total + 1));
    if (!out->values) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t r = 0; r < count; r++) {
        int64_t *to = out->values + out->offsets[r];
        if (pad_empty && out->empty[r]) {
            *to = 0;
            continue;
        }
        const Py_buffer *view = &a.views[r];
        Py_ssize_t length = view_length(view), start = 0;
        if (tail > 0 && length > tail) start = length - tail;
        if (reverse)
            for (Py_ssize_t i = length - 1; i >= start; i--) *to++ = item_at(view, i);
        else
            for (Py_ssize_t i = start; i < length; i++) *to++ = item_at(view, i);
        if (second) {
            const Py_buffer *more = &b.views[r];
            for (Py_ssize_t i = 0, n = view_length(more); i < n; i++) *to++ = item_at(more, i);
        }
    }
    status = 0;
done:
    views_release(&a);
    if (second) views_release(&b);
    if (status) joined_free(out);
    return status;
}

int codes_get(PyObject *codes, Py_ssize_t count, int32_t **out) {
    *out = malloc(sizeof(int32_t) * ((size_t)count + 1));
    if (!*out) {
        PyErr_NoMemory();
        return -1;
    }
    if (codes == Py_None) {
        for (Py_ssize_t r = 0; r < count; r++) (*out)[r] = -1;
        return 0;
    }
    PyObject *fast = PySequence_Fast(codes, "codes must be a sequence of ints or None");
    if (!fast) goto failed;
    if (PySequence_Fast_GET_SIZE(fast) != count) {
        PyErr_Format(PyExc_ValueError, "codes: %zd of them, expected %zd",
                     PySequence_Fast_GET_SIZE(fast), count);
        Py_DECREF(fast);
        goto failed;
    }
    for (Py_ssize_t r = 0; r < count; r++) {
        long code = PyLong_AsLong(PySequence_Fast_GET_ITEM(fast, r));
        if (code == -1 && PyErr_Occurred()) {
            Py_DECREF(fast);
            goto failed;
        }
        if (code < INT32_MIN || code > INT32_MAX) {
            PyErr_SetString(PyExc_ValueError, "codes: a category code is out of range");
            Py_DECREF(fast);
            goto failed;
        }
        (*out)[r] = (int32_t)code;
    }
    Py_DECREF(fast);
    return 0;
failed:
    free(*out);
    *out = NULL;
    return -1;
}
