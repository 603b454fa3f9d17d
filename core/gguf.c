/*
 * gguf.c - GGUF (v2, v3) parser: walks the header, the key/value pairs and
 * the tensor infos of a llama.cpp-style checkpoint and turns the file into
 * segments: one HEADER (everything up to the aligned data section), the
 * tensors in offset order, PADDING for alignment gaps and trailing bytes.
 *
 * The input is treated as hostile: every read is checked against the bytes
 * left, counts are bounded by the bytes they would need (so a huge count
 * costs neither time nor memory), array nesting is capped, and the work is
 * linear in the file size.
 *
 * Layout (little-endian): "GGUF", u32 version, u64 tensor_count,
 * u64 kv_count, kv pairs (string key, u32 type, value), tensor infos
 * (string name, u32 n_dims, u64 dims[n_dims], u32 ggml_type, u64 offset),
 * padding to general.alignment, data.  A string is a u64 length and bytes.
 *
 * Shapes are reported outermost first, like safetensors: GGUF stores dims
 * innermost first (ne[0] is the row length), so they are reversed.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define GG_DEFAULT_ALIGNMENT 32u
#define GG_MAX_DEPTH 8        /* nested arrays deeper than this are refused */
#define GG_MIN_KV 13          /* u64 key len + u32 type + 1-byte value */
#define GG_MIN_TENSOR_INFO 24 /* u64 name len + u32 n_dims + u32 type + u64 */
#define GG_TYPE_STRING 8u
#define GG_TYPE_ARRAY 9u
#define GG_TYPE_COUNT 13u
#define GG_TYPE_UINT32 4u

/* A cursor over the file. */
typedef struct gg_reader {
    const uint8_t *data;
    size_t len;
    size_t pos;
} gg_reader;

/* One tensor info; name points into the file. */
typedef struct gg_tensor {
    const uint8_t *name;
    size_t name_len;
    uint32_t ndim;
    uint64_t shape[ELVES_MAX_DIMS]; /* outermost first */
    uint32_t type;
    elves_dtype dtype;
    uint64_t numel;
    uint64_t start;  /* absolute file offset */
    uint64_t length; /* bytes, derived for OPAQUE types */
    size_t order;
} gg_tensor;

typedef struct gg_file {
    uint32_t version;
    uint64_t tensor_count, kv_count;
    uint32_t alignment;
    int alignment_seen;
    uint64_t data_start; /* header end rounded up to alignment */
    gg_tensor *tensors;
} gg_file;

static size_t gg_left(const gg_reader *r)
{
    return r->len - r->pos;
}

static int gg_need(gg_reader *r, uint64_t n, const char *what, elves_error *err)
{
    if (n > gg_left(r))
        return es_fail(err, ELVES_E_FORMAT,
                       "truncated: %s at byte %zu needs %llu bytes, %zu left",
                       what, r->pos, (unsigned long long)n, gg_left(r));
    return ELVES_OK;
}

static int gg_u32(uint32_t *out, gg_reader *r, const char *what,
                  elves_error *err)
{
    int rc = gg_need(r, 4, what, err);
    if (rc == ELVES_OK) {
        *out = es_load32(r->data + r->pos);
        r->pos += 4;
    }
    return rc;
}

static int gg_u64(uint64_t *out, gg_reader *r, const char *what,
                  elves_error *err)
{
    int rc = gg_need(r, 8, what, err);
    if (rc == ELVES_OK) {
        *out = es_load64(r->data + r->pos);
        r->pos += 8;
    }
    return rc;
}

/* A string: u64 length then bytes, returned in place. */
static int gg_string(const uint8_t **out, size_t *out_len, gg_reader *r,
                     const char *what, elves_error *err)
{
    uint64_t n;
    int rc = gg_u64(&n, r, what, err);
    if (rc == ELVES_OK)
        rc = gg_need(r, n, what, err);
    if (rc == ELVES_OK) {
        *out = r->data + r->pos;
        *out_len = (size_t)n;
        r->pos += (size_t)n;
    }
    return rc;
}

/* Bytes of a fixed-size kv value type; 0 for string, array and unknown. */
static unsigned gg_value_size(uint32_t type)
{
    static const unsigned sizes[GG_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4,
                                                  1, 0, 0, 8, 8, 8};
    return type < GG_TYPE_COUNT ? sizes[type] : 0;
}

static int gg_skip_value(gg_reader *r, uint32_t type, unsigned depth,
                         elves_error *err);

/* An array: u32 element type, u64 count, elements.  The count is checked
 * against the smallest size an element can have before anything is read, so
 * a hostile count fails at once. */
static int gg_skip_array(gg_reader *r, unsigned depth, elves_error *err)
{
    uint32_t type;
    uint64_t count, bytes;
    int rc = gg_u32(&type, r, "array type", err);
    if (rc == ELVES_OK)
        rc = gg_u64(&count, r, "array count", err);
    if (rc != ELVES_OK)
        return rc;
    if (type >= GG_TYPE_COUNT)
        return es_fail(err, ELVES_E_FORMAT,
                       "array at byte %zu has unknown element type %u", r->pos,
                       type);
    if (type == GG_TYPE_ARRAY && depth + 1 > GG_MAX_DEPTH)
        return es_fail(err, ELVES_E_FORMAT,
                       "arrays nested deeper than %d levels", GG_MAX_DEPTH);
    unsigned size = gg_value_size(type);
    unsigned min = size ? size : (type == GG_TYPE_STRING ? 8 : 12);
    if (!es_mul_ok(count, min, &bytes) || bytes > gg_left(r))
        return es_fail(err, ELVES_E_FORMAT,
                       "array count %llu at byte %zu does not fit in the %zu "
                       "bytes left",
                       (unsigned long long)count, r->pos, gg_left(r));
    if (size) {
        r->pos += (size_t)bytes;
        return ELVES_OK;
    }
    for (uint64_t i = 0; i < count && rc == ELVES_OK; i++)
        rc = gg_skip_value(r, type, depth + 1, err);
    return rc;
}

static int gg_skip_value(gg_reader *r, uint32_t type, unsigned depth,
                         elves_error *err)
{
    if (type == GG_TYPE_STRING) {
        const uint8_t *s;
        size_t n;
        return gg_string(&s, &n, r, "string value", err);
    }
    if (type == GG_TYPE_ARRAY)
        return gg_skip_array(r, depth, err);
    if (type >= GG_TYPE_COUNT)
        return es_fail(err, ELVES_E_FORMAT,
                       "value at byte %zu has unknown type %u", r->pos, type);
    int rc = gg_need(r, gg_value_size(type), "value", err);
    if (rc == ELVES_OK)
        r->pos += gg_value_size(type);
    return rc;
}

/* general.alignment: a u32 power of two. */
static int gg_read_alignment(gg_file *f, gg_reader *r, uint32_t type,
                             elves_error *err)
{
    if (type != GG_TYPE_UINT32)
        return es_fail(err, ELVES_E_FORMAT,
                       "general.alignment has type %u, expected u32 (4)", type);
    if (f->alignment_seen)
        return es_fail(err, ELVES_E_FORMAT, "general.alignment appears twice");
    uint32_t a;
    int rc = gg_u32(&a, r, "general.alignment", err);
    if (rc != ELVES_OK)
        return rc;
    if (a == 0 || (a & (a - 1)))
        return es_fail(err, ELVES_E_FORMAT,
                       "general.alignment %u is not a power of two", a);
    f->alignment = a;
    f->alignment_seen = 1;
    return ELVES_OK;
}

static int gg_read_kv(gg_file *f, gg_reader *r, elves_error *err)
{
    static const char align_key[] = "general.alignment";
    const uint8_t *key;
    size_t key_len;
    uint32_t type;
    int rc = gg_string(&key, &key_len, r, "kv key", err);
    if (rc == ELVES_OK)
        rc = gg_u32(&type, r, "kv type", err);
    if (rc != ELVES_OK)
        return rc;
    if (type >= GG_TYPE_COUNT)
        return es_fail(err, ELVES_E_FORMAT, "kv '%.*s' has unknown type %u",
                       (int)(key_len < 64 ? key_len : 64), (const char *)key,
                       type);
    if (key_len == sizeof align_key - 1 && !memcmp(key, align_key, key_len))
        return gg_read_alignment(f, r, type, err);
    return gg_skip_value(r, type, 0, err);
}

static int gg_read_header(gg_file *f, gg_reader *r, elves_error *err)
{
    if (r->len < 4 || memcmp(r->data, "GGUF", 4) != 0)
        return es_fail(err, ELVES_E_FORMAT, "not a GGUF file (bad magic)");
    r->pos = 4;
    int rc = gg_u32(&f->version, r, "version", err);
    if (rc != ELVES_OK)
        return rc;
    if (f->version != 2 && f->version != 3)
        return es_fail(err, ELVES_E_UNSUPPORTED,
                       "GGUF version %u not supported (only 2 and 3%s)",
                       f->version,
                       f->version > 0xffff ? "; big-endian file?" : "");
    rc = gg_u64(&f->tensor_count, r, "tensor count", err);
    if (rc == ELVES_OK)
        rc = gg_u64(&f->kv_count, r, "kv count", err);
    if (rc != ELVES_OK)
        return rc;
    if (f->kv_count > gg_left(r) / GG_MIN_KV)
        return es_fail(err, ELVES_E_FORMAT,
                       "kv count %llu cannot fit in the %zu bytes left",
                       (unsigned long long)f->kv_count, gg_left(r));
    for (uint64_t i = 0; i < f->kv_count && rc == ELVES_OK; i++)
        rc = gg_read_kv(f, r, err);
    return rc;
}

static elves_dtype gg_dtype(uint32_t ggml_type)
{
    switch (ggml_type) {
    case 0:
        return ELVES_DT_F32;
    case 1:
        return ELVES_DT_F16;
    case 24:
        return ELVES_DT_I8;
    case 25:
        return ELVES_DT_I16;
    case 26:
        return ELVES_DT_I32;
    case 27:
        return ELVES_DT_I64;
    case 28:
        return ELVES_DT_F64;
    case 30:
        return ELVES_DT_BF16;
    default:
        return ELVES_DT_OPAQUE;
    }
}

/* Name, dims (reversed into shape) and element count. */
static int gg_read_name_dims(gg_tensor *t, gg_reader *r, elves_error *err)
{
    int rc = gg_string(&t->name, &t->name_len, r, "tensor name", err);
    if (rc == ELVES_OK && memchr(t->name, 0, t->name_len))
        rc = es_fail(err, ELVES_E_FORMAT,
                     "tensor name at byte %zu contains a NUL byte",
                     r->pos - t->name_len);
    if (rc == ELVES_OK)
        rc = gg_u32(&t->ndim, r, "tensor n_dims", err);
    if (rc != ELVES_OK)
        return rc;
    if (t->ndim > ELVES_MAX_DIMS)
        return es_fail(err, ELVES_E_FORMAT,
                       "tensor '%.*s': %u dims, at most %d supported",
                       (int)(t->name_len < 64 ? t->name_len : 64),
                       (const char *)t->name, t->ndim, ELVES_MAX_DIMS);
    int zero = 0, overflow = 0;
    t->numel = 1;
    for (uint32_t d = 0; d < t->ndim; d++) {
        uint64_t v;
        rc = gg_u64(&v, r, "tensor dims", err);
        if (rc != ELVES_OK)
            return rc;
        if (v > INT64_MAX) /* ggml's dims are int64_t */
            return es_fail(err, ELVES_E_FORMAT,
                           "tensor '%.*s': dimension %u is negative",
                           (int)(t->name_len < 64 ? t->name_len : 64),
                           (const char *)t->name, d);
        zero |= v == 0;
        overflow |= !es_mul_ok(t->numel, v, &t->numel);
        t->shape[t->ndim - 1 - d] = v;
    }
    if (zero) /* no elements, however large the other dims */
        t->numel = 0;
    else if (overflow)
        return es_fail(
            err, ELVES_E_FORMAT, "tensor '%.*s': element count overflows",
            (int)(t->name_len < 64 ? t->name_len : 64), (const char *)t->name);
    return ELVES_OK;
}

/* Type and offset; the offset is kept relative until the data section's
 * start is known. */
static int gg_read_tensor(gg_tensor *t, const gg_file *f, gg_reader *r,
                          elves_error *err)
{
    int rc = gg_read_name_dims(t, r, err);
    if (rc == ELVES_OK)
        rc = gg_u32(&t->type, r, "tensor type", err);
    if (rc == ELVES_OK)
        rc = gg_u64(&t->start, r, "tensor offset", err);
    if (rc != ELVES_OK)
        return rc;
    if (t->start % f->alignment)
        return es_fail(err, ELVES_E_FORMAT,
                       "tensor '%.*s': offset %llu is not a multiple of the "
                       "alignment %u",
                       (int)(t->name_len < 64 ? t->name_len : 64),
                       (const char *)t->name, (unsigned long long)t->start,
                       f->alignment);
    t->dtype = gg_dtype(t->type);
    if (t->dtype != ELVES_DT_OPAQUE &&
        !es_mul_ok(t->numel, elves_dtype_bits(t->dtype) / 8, &t->length))
        return es_fail(
            err, ELVES_E_FORMAT, "tensor '%.*s': byte size overflows",
            (int)(t->name_len < 64 ? t->name_len : 64), (const char *)t->name);
    return ELVES_OK;
}

static int gg_read_tensors(gg_file *f, gg_reader *r, elves_error *err)
{
    if (f->tensor_count > gg_left(r) / GG_MIN_TENSOR_INFO)
        return es_fail(err, ELVES_E_FORMAT,
                       "tensor count %llu cannot fit in the %zu bytes left",
                       (unsigned long long)f->tensor_count, gg_left(r));
    size_t n = (size_t)f->tensor_count;
    f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
    if (!f->tensors)
        return es_fail(err, ELVES_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        int rc = gg_read_tensor(&f->tensors[i], f, r, err);
        if (rc != ELVES_OK)
            return rc;
        f->tensors[i].order = i;
    }
    return ELVES_OK;
}

/* By start; at one start, known sizes (smallest first) before OPAQUE ones,
 * so that zero-size tensors sharing an offset do not look like overlaps. */
static int gg_cmp(const void *pa, const void *pb)
{
    const gg_tensor *a = pa, *b = pb;
    if (a->start != b->start)
        return a->start < b->start ? -1 : 1;
    int ao = a->dtype == ELVES_DT_OPAQUE, bo = b->dtype == ELVES_DT_OPAQUE;
    if (ao != bo)
        return ao - bo;
    if (a->length != b->length)
        return a->length < b->length ? -1 : 1;
    return a->order < b->order ? -1 : (a->order > b->order);
}

/* Makes offsets absolute, sorts, sizes OPAQUE tensors from the next start
 * (or the end of the file) and checks bounds and overlaps. */
static int gg_layout(gg_file *f, size_t len, elves_error *err)
{
    size_t n = (size_t)f->tensor_count;
    for (size_t i = 0; i < n; i++) {
        gg_tensor *t = &f->tensors[i];
        if (t->start > len || f->data_start > len - t->start)
            return es_fail(err, ELVES_E_FORMAT,
                           "tensor '%.*s': offset %llu starts past the end "
                           "of the file",
                           (int)(t->name_len < 64 ? t->name_len : 64),
                           (const char *)t->name, (unsigned long long)t->start);
        t->start += f->data_start;
    }
    qsort(f->tensors, n, sizeof *f->tensors, gg_cmp);
    uint64_t at = f->data_start;
    for (size_t i = 0; i < n; i++) {
        gg_tensor *t = &f->tensors[i];
        const char *name = (const char *)t->name;
        int nl = (int)(t->name_len < 64 ? t->name_len : 64);
        if (t->start < at)
            return es_fail(err, ELVES_E_FORMAT,
                           "tensor '%.*s' at byte %llu overlaps the previous "
                           "tensor ending at %llu",
                           nl, name, (unsigned long long)t->start,
                           (unsigned long long)at);
        if (t->dtype == ELVES_DT_OPAQUE) {
            uint64_t next = i + 1 < n ? f->tensors[i + 1].start : len;
            t->length = next - t->start;
            if (t->length == 0 && t->numel > 0)
                return es_fail(err, ELVES_E_FORMAT,
                               "tensor '%.*s' (ggml type %u) at byte %llu "
                               "has no bytes before the next tensor",
                               nl, name, t->type, (unsigned long long)t->start);
        } else if (t->length > len - t->start) {
            return es_fail(err, ELVES_E_FORMAT,
                           "tensor '%.*s': %llu bytes at byte %llu run past "
                           "the end of the file (%zu bytes)",
                           nl, name, (unsigned long long)t->length,
                           (unsigned long long)t->start, len);
        }
        at = t->start + t->length;
    }
    return ELVES_OK;
}

static void gg_push(elves_segments *s, elves_seg_kind kind, uint64_t offset,
                    uint64_t length)
{
    elves_segment *g = &s->items[s->count++];
    g->kind = kind;
    g->offset = offset;
    g->length = length;
}

static int gg_push_tensor(elves_segments *s, const gg_tensor *t)
{
    elves_segment *g = &s->items[s->count];
    g->name = malloc(t->name_len + 1);
    if (!g->name)
        return ELVES_E_NOMEM;
    memcpy(g->name, t->name, t->name_len);
    g->name[t->name_len] = '\0';
    gg_push(s, ELVES_SEG_TENSOR, t->start, t->length);
    g->dtype = t->dtype;
    g->ndim = t->ndim;
    memcpy(g->shape, t->shape, sizeof g->shape);
    g->gguf_type = t->type;
    return ELVES_OK;
}

/* HEADER, then each tensor preceded by PADDING for any gap, then trailing
 * PADDING to the end of the file. */
static int gg_build(elves_segments **out, const gg_file *f, size_t len,
                    elves_error *err)
{
    size_t n = (size_t)f->tensor_count;
    elves_segments *s = calloc(1, sizeof *s);
    if (!s || !(s->items = calloc(2 * n + 2, sizeof *s->items))) {
        free(s);
        return es_fail(err, ELVES_E_NOMEM, "out of memory");
    }
    s->format = ELVES_FMT_GGUF;
    s->file_size = len;
    uint64_t at = f->data_start < len ? f->data_start : len;
    gg_push(s, ELVES_SEG_HEADER, 0, at);
    for (size_t i = 0; i < n; i++) {
        const gg_tensor *t = &f->tensors[i];
        if (t->start > at)
            gg_push(s, ELVES_SEG_PADDING, at, t->start - at);
        if (gg_push_tensor(s, t) != ELVES_OK) {
            elves_segments_free(s);
            return es_fail(err, ELVES_E_NOMEM, "out of memory");
        }
        at = t->start + t->length;
    }
    if (at < len)
        gg_push(s, ELVES_SEG_PADDING, at, len - at);
    *out = s;
    return ELVES_OK;
}

int elves_parse_gguf(elves_segments **out, const uint8_t *data, size_t len,
                     elves_error *err)
{
    if (!out || (!data && len))
        return es_fail(err, ELVES_E_INVALID, "null argument");
    *out = NULL;
    gg_reader r = {data, len, 0};
    gg_file f = {.alignment = GG_DEFAULT_ALIGNMENT};
    int rc = gg_read_header(&f, &r, err);
    if (rc == ELVES_OK)
        rc = gg_read_tensors(&f, &r, err);
    if (rc == ELVES_OK) {
        /* r.pos <= len < 2^64 - 2^32, so rounding up cannot overflow. */
        f.data_start =
            ((uint64_t)r.pos + f.alignment - 1) / f.alignment * f.alignment;
        rc = gg_layout(&f, len, err);
    }
    if (rc == ELVES_OK)
        rc = gg_build(out, &f, len, err);
    free(f.tensors);
    return rc;
}
