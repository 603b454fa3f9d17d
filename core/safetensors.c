/*
 * safetensors.c - strict safetensors parser: checks the length-prefixed JSON
 * header against the bytes that follow it and turns the file into segments
 * (one HEADER, then every tensor in offset order).  Also home of
 * elves_segments_free, which every parser's output is released with.
 *
 * The rules are those of the reference implementation (safetensors'
 * Metadata::validate): dtypes known, shapes of non-negative integers,
 * data_offsets [begin, end] with end - begin == elements x dtype size,
 * tensors contiguous from 0 once sorted by offset, the last one ending at the
 * end of the file, no duplicate names.  The header must begin with '{' (the
 * format's README says MUST); trailing whitespace, which writers pad with, is
 * accepted.  Plain headers are read without building a JSON tree (st_fast);
 * jansson reads the rest and reports every error.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define ST_PREFIX 8 /* bytes of the little-endian header length */

/* One tensor as read from the header; name borrowed from the JSON tree. */
typedef struct st_tensor {
    const char *name;
    elves_dtype dtype;
    uint32_t ndim;
    uint64_t shape[ELVES_MAX_DIMS];
    uint64_t begin, end; /* relative to the data buffer */
    size_t order;        /* position in the header, for a stable sort */
} st_tensor;

/* What the header holds once read and checked. */
typedef struct st_header {
    uint64_t hlen; /* N: JSON bytes after the 8-byte prefix */
    st_tensor *tensors;
    size_t count;
    char *metadata_json;
} st_header;

void elves_segments_free(elves_segments *segs)
{
    if (!segs)
        return;
    for (size_t i = 0; i < segs->count; i++)
        free(segs->items[i].name);
    free(segs->items);
    free(segs->metadata_json);
    free(segs);
}

/* 8-byte prefix: N must be non-zero, within the format's limit and fit in
 * the file. */
static int st_read_prefix(uint64_t *out, const uint8_t *data, size_t len,
                          elves_error *err)
{
    if (len < ST_PREFIX)
        return es_fail(err, ELVES_E_FORMAT,
                       "file is %zu bytes, shorter than the 8-byte header "
                       "length",
                       len);
    uint64_t n = es_load64(data);
    if (n == 0)
        return es_fail(err, ELVES_E_FORMAT, "header length is 0");
    if (n > ELVES_ST_MAX_HEADER)
        return es_fail(err, ELVES_E_FORMAT,
                       "header length %llu exceeds the limit of %llu bytes",
                       (unsigned long long)n,
                       (unsigned long long)ELVES_ST_MAX_HEADER);
    if (n > len - ST_PREFIX)
        return es_fail(err, ELVES_E_FORMAT,
                       "header length %llu runs past the end of the file "
                       "(%zu bytes after the length)",
                       (unsigned long long)n, len - ST_PREFIX);
    *out = n;
    return ELVES_OK;
}

/* Parses the JSON header.  Duplicate keys are rejected by jansson itself,
 * after unescaping, so "a" and "\u0061" count as the same name. */
static int st_load_json(json_t **out, const uint8_t *json, size_t n,
                        elves_error *err)
{
    if (json[0] != '{')
        return es_fail(err, ELVES_E_FORMAT,
                       "header must begin with '{' (found byte 0x%02x)",
                       json[0]);
    json_error_t jerr;
    json_t *root =
        json_loadb((const char *)json, n, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        if (json_error_code(&jerr) == json_error_out_of_memory)
            return es_fail(err, ELVES_E_NOMEM, "out of memory parsing header");
        if (json_error_code(&jerr) == json_error_duplicate_key)
            return es_fail(err, ELVES_E_FORMAT,
                           "header has a duplicate key (%s at byte %d)",
                           jerr.text, jerr.position);
        return es_fail(err, ELVES_E_FORMAT,
                       "header is not valid JSON: %s at byte %d", jerr.text,
                       jerr.position);
    }
    if (!json_is_object(root)) { /* cannot happen after '{', kept as a guard */
        json_decref(root);
        return es_fail(err, ELVES_E_FORMAT, "header is not a JSON object");
    }
    *out = root;
    return ELVES_OK;
}

/* A JSON value that is a non-negative integer, as uint64. */
static int st_uint(uint64_t *out, const json_t *v)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return 0;
    *out = (uint64_t)json_integer_value(v);
    return 1;
}

static int st_read_dtype(st_tensor *t, const json_t *entry, elves_error *err)
{
    const json_t *v = json_object_get(entry, "dtype");
    if (!v)
        return es_fail(err, ELVES_E_FORMAT, "tensor '%.64s': missing dtype",
                       t->name);
    if (!json_is_string(v))
        return es_fail(err, ELVES_E_FORMAT,
                       "tensor '%.64s': dtype is not a string", t->name);
    t->dtype = elves_dtype_from_name(json_string_value(v));
    if (t->dtype == ELVES_DT_OPAQUE)
        return es_fail(err, ELVES_E_FORMAT,
                       "tensor '%.64s': unknown dtype '%.32s'", t->name,
                       json_string_value(v));
    return ELVES_OK;
}

static int st_read_shape(st_tensor *t, const json_t *entry, elves_error *err)
{
    const json_t *v = json_object_get(entry, "shape");
    if (!v)
        return es_fail(err, ELVES_E_FORMAT, "tensor '%.64s': missing shape",
                       t->name);
    if (!json_is_array(v))
        return es_fail(err, ELVES_E_FORMAT,
                       "tensor '%.64s': shape is not an array", t->name);
    size_t ndim = json_array_size(v);
    if (ndim > ELVES_MAX_DIMS)
        return es_fail(err, ELVES_E_FORMAT,
                       "tensor '%.64s': shape has %zu dims, at most %d "
                       "supported",
                       t->name, ndim, ELVES_MAX_DIMS);
    for (size_t i = 0; i < ndim; i++)
        if (!st_uint(&t->shape[i], json_array_get(v, i)))
            return es_fail(err, ELVES_E_FORMAT,
                           "tensor '%.64s': shape[%zu] is not a non-negative "
                           "integer",
                           t->name, i);
    t->ndim = (uint32_t)ndim;
    return ELVES_OK;
}

static int st_read_offsets(st_tensor *t, const json_t *entry, elves_error *err)
{
    const json_t *v = json_object_get(entry, "data_offsets");
    if (!v)
        return es_fail(err, ELVES_E_FORMAT,
                       "tensor '%.64s': missing data_offsets", t->name);
    if (!json_is_array(v) || json_array_size(v) != 2 ||
        !st_uint(&t->begin, json_array_get(v, 0)) ||
        !st_uint(&t->end, json_array_get(v, 1)))
        return es_fail(err, ELVES_E_FORMAT,
                       "tensor '%.64s': data_offsets is not [begin, end] of "
                       "non-negative integers",
                       t->name);
    if (t->end < t->begin)
        return es_fail(err, ELVES_E_FORMAT,
                       "tensor '%.64s': data_offsets [%llu, %llu] end before "
                       "begin",
                       t->name, (unsigned long long)t->begin,
                       (unsigned long long)t->end);
    return ELVES_OK;
}

/* Product of the dims; a zero dim makes it 0 whatever the others are.
 * Returns 0 on overflow. */
static int st_numel(uint64_t *out, const st_tensor *t)
{
    uint64_t n = 1;
    for (uint32_t i = 0; i < t->ndim; i++)
        if (t->shape[i] == 0)
            return *out = 0, 1;
    for (uint32_t i = 0; i < t->ndim; i++)
        if (!es_mul_ok(n, t->shape[i], &n))
            return 0;
    *out = n;
    return 1;
}

/* end - begin must be exactly elements x dtype size; sub-byte dtypes must
 * fill whole bytes. */
static int st_check_size(const st_tensor *t, elves_error *err)
{
    uint64_t numel, bits;
    if (!st_numel(&numel, t))
        return es_fail(err, ELVES_E_FORMAT,
                       "tensor '%.64s': element count overflows", t->name);
    unsigned eb = elves_dtype_bits(t->dtype);
    if (!es_mul_ok(numel, eb, &bits))
        return es_fail(err, ELVES_E_FORMAT,
                       "tensor '%.64s': byte size of %llu elements overflows",
                       t->name, (unsigned long long)numel);
    if (bits % 8)
        return es_fail(err, ELVES_E_FORMAT,
                       "tensor '%.64s': %llu elements x %u bits is not a "
                       "whole number of bytes",
                       t->name, (unsigned long long)numel, eb);
    uint64_t have = t->end - t->begin;
    if (have == bits / 8)
        return ELVES_OK;
    if (eb % 8)
        return es_fail(err, ELVES_E_FORMAT,
                       "tensor '%.64s': data_offsets [%llu, %llu] length %llu "
                       "!= %llu elements x %u bits",
                       t->name, (unsigned long long)t->begin,
                       (unsigned long long)t->end, (unsigned long long)have,
                       (unsigned long long)numel, eb);
    return es_fail(err, ELVES_E_FORMAT,
                   "tensor '%.64s': data_offsets [%llu, %llu] length %llu != "
                   "%llu elements x %u bytes",
                   t->name, (unsigned long long)t->begin,
                   (unsigned long long)t->end, (unsigned long long)have,
                   (unsigned long long)numel, eb / 8);
}

static int st_read_tensor(st_tensor *t, const char *name, const json_t *entry,
                          elves_error *err)
{
    t->name = name;
    if (!json_is_object(entry))
        return es_fail(err, ELVES_E_FORMAT,
                       "tensor '%.64s': entry is not an object", name);
    int rc = st_read_dtype(t, entry, err);
    if (rc == ELVES_OK)
        rc = st_read_shape(t, entry, err);
    if (rc == ELVES_OK)
        rc = st_read_offsets(t, entry, err);
    if (rc == ELVES_OK)
        rc = st_check_size(t, err);
    return rc;
}

/* "__metadata__" must map strings to strings; kept as compact JSON. */
static int st_read_metadata(char **out, const json_t *meta, elves_error *err)
{
    if (!json_is_object(meta))
        return es_fail(err, ELVES_E_FORMAT, "__metadata__ is not an object");
    const char *key;
    const json_t *v;
    json_object_foreach(
        (json_t *)meta, key,
        v) if (!json_is_string(v)) return es_fail(err, ELVES_E_FORMAT,
                                                  "__metadata__ value for "
                                                  "'%.64s' is not a string",
                                                  key);
    *out = json_dumps(meta, JSON_COMPACT);
    if (!*out)
        return es_fail(err, ELVES_E_NOMEM, "out of memory copying metadata");
    return ELVES_OK;
}

/* Reads every entry of the header object into h. */
static int st_read_entries(st_header *h, json_t *root, elves_error *err)
{
    size_t cap = json_object_size(root);
    h->tensors = calloc(cap ? cap : 1, sizeof *h->tensors);
    if (!h->tensors)
        return es_fail(err, ELVES_E_NOMEM, "out of memory");
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        int rc;
        if (strcmp(key, "__metadata__") == 0) {
            rc = st_read_metadata(&h->metadata_json, v, err);
        } else {
            st_tensor *t = &h->tensors[h->count];
            rc = st_read_tensor(t, key, v, err);
            t->order = h->count++;
        }
        if (rc != ELVES_OK)
            return rc;
    }
    return ELVES_OK;
}

static int st_cmp(const void *pa, const void *pb)
{
    const st_tensor *a = pa, *b = pb;
    if (a->begin != b->begin)
        return a->begin < b->begin ? -1 : 1;
    if (a->end != b->end)
        return a->end < b->end ? -1 : 1;
    return a->order < b->order ? -1 : (a->order > b->order);
}

/* Sorted by offset, tensors must tile [0, buffer_len) exactly. */
static int st_check_layout(const st_header *h, uint64_t buffer_len,
                           elves_error *err)
{
    uint64_t at = 0;
    const char *prev = NULL;
    for (size_t i = 0; i < h->count; i++) {
        const st_tensor *t = &h->tensors[i];
        if (t->begin > at)
            return es_fail(err, ELVES_E_FORMAT,
                           "tensor '%.64s': data_offsets begin %llu leaves a "
                           "gap after byte %llu",
                           t->name, (unsigned long long)t->begin,
                           (unsigned long long)at);
        if (t->begin < at)
            return es_fail(err, ELVES_E_FORMAT,
                           "tensor '%.64s': data_offsets begin %llu overlaps "
                           "tensor '%.64s' ending at %llu",
                           t->name, (unsigned long long)t->begin, prev,
                           (unsigned long long)at);
        if (t->end > buffer_len)
            return es_fail(err, ELVES_E_FORMAT,
                           "tensor '%.64s': data_offsets end %llu is past the "
                           "end of the data buffer (%llu bytes)",
                           t->name, (unsigned long long)t->end,
                           (unsigned long long)buffer_len);
        at = t->end;
        prev = t->name;
    }
    if (at != buffer_len)
        return es_fail(err, ELVES_E_FORMAT,
                       "data buffer is %llu bytes but tensors end at %llu "
                       "(trailing bytes)",
                       (unsigned long long)buffer_len, (unsigned long long)at);
    return ELVES_OK;
}

/* ------------------------------------------------------------------------ */
/* Fast path: the common header, without a JSON tree                        */
/* ------------------------------------------------------------------------ */

/*
 * jansson built the tree at about 40 MB/s, 10% of the encode time of the
 * shared checkpoints.  Writers emit a plain subset: keys and strings of
 * printable ASCII without escapes (but \" and \\ in metadata values, where
 * the faceapi checkpoints keep JSON), non-negative integers without sign,
 * fraction or exponent, tensor entries of exactly dtype, shape and
 * data_offsets, string-to-string metadata.  st_fast reads that subset
 * straight from the bytes and accepts a header only if it is valid and
 * passes every check st_read_tensor makes; anything else (an escape, a
 * real, another key, a duplicate, an error of any kind) returns 0 and the
 * caller parses with jansson, which then gives the same result or the
 * precise error.  On that subset the unescaped text is the raw text, so
 * names, duplicates and the compact metadata are exactly jansson's.
 */
typedef struct st_scan {
    char *p, *end; /* a private copy of the header: names end in place */
} st_scan;

static void sc_ws(st_scan *s)
{
    while (s->p < s->end &&
           (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

/* Skips whitespace and takes c; 0 if c is not next. */
static int sc_take(st_scan *s, char c)
{
    sc_ws(s);
    if (s->p == s->end || *s->p != c)
        return 0;
    s->p++;
    return 1;
}

/* A string of printable ASCII; NUL-terminated in place, raw.  Escapes
 * only with quoted set, and only \" and \\, which jansson's compact dump
 * writes back as they are (metadata values). */
static int sc_string_esc(st_scan *s, char **out, size_t *len, int quoted)
{
    if (!sc_take(s, '"'))
        return 0;
    char *b = s->p;
    while (s->p < s->end && *s->p != '"') {
        unsigned char c = (unsigned char)*s->p;
        if (c < 0x20 || c > 0x7e)
            return 0;
        if (c == '\\') {
            if (!quoted || s->end - s->p < 2 ||
                (s->p[1] != '"' && s->p[1] != '\\'))
                return 0;
            s->p++;
        }
        s->p++;
    }
    if (s->p == s->end)
        return 0;
    *s->p++ = '\0';
    *out = b;
    *len = (size_t)(s->p - 1 - b);
    return 1;
}

/* A key or a value read as it is: no escapes. */
static int sc_string(st_scan *s, char **out, size_t *len)
{
    return sc_string_esc(s, out, len, 0);
}

/* A non-negative integer of at most 18 digits, no leading zero. */
static int sc_uint(st_scan *s, uint64_t *out)
{
    uint64_t v = 0;
    int digits = 0;
    sc_ws(s);
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9' && digits <= 18) {
        v = v * 10 + (uint64_t)(*s->p++ - '0');
        digits++;
    }
    if (digits == 0 || digits > 18 || (digits > 1 && s->p[-digits] == '0'))
        return 0;
    *out = v;
    return 1;
}

/* [u, u, ...] of up to max integers. */
static int sc_uints(st_scan *s, uint64_t *v, size_t max, size_t *n)
{
    *n = 0;
    if (!sc_take(s, '['))
        return 0;
    if (sc_take(s, ']'))
        return 1;
    do {
        if (*n == max || !sc_uint(s, &v[*n]))
            return 0;
        (*n)++;
    } while (sc_take(s, ','));
    return sc_take(s, ']');
}

/* {"dtype": ..., "shape": [...], "data_offsets": [b, e]}, each once. */
static int sc_tensor(st_scan *s, st_tensor *t)
{
    unsigned seen = 0;
    uint64_t off[2];
    size_t n, klen;
    char *key;
    if (!sc_take(s, '{'))
        return 0;
    do {
        if (!sc_string(s, &key, &klen) || !sc_take(s, ':'))
            return 0;
        if (strcmp(key, "dtype") == 0 && !(seen & 1)) {
            char *v;
            if (!sc_string(s, &v, &n))
                return 0;
            t->dtype = elves_dtype_from_name(v);
            if (t->dtype == ELVES_DT_OPAQUE)
                return 0;
            seen |= 1;
        } else if (strcmp(key, "shape") == 0 && !(seen & 2)) {
            if (!sc_uints(s, t->shape, ELVES_MAX_DIMS, &n))
                return 0;
            t->ndim = (uint32_t)n;
            seen |= 2;
        } else if (strcmp(key, "data_offsets") == 0 && !(seen & 4)) {
            if (!sc_uints(s, off, 2, &n) || n != 2 || off[1] < off[0])
                return 0;
            t->begin = off[0];
            t->end = off[1];
            seen |= 4;
        } else {
            return 0;
        }
    } while (sc_take(s, ','));
    return seen == 7 && sc_take(s, '}') && st_check_size(t, NULL) == ELVES_OK;
}

/* At most this many metadata keys on the fast path (duplicates are
 * looked for pairwise). */
#define SC_MAX_META 64

/* {"k": "v", ...} into its compact form: the raw text without blanks. */
static int sc_metadata(st_scan *s, char **out)
{
    char *keys[SC_MAX_META], *val, *json = NULL;
    size_t nkeys = 0, klen, vlen, cap = 64, used = 1;
    if (!sc_take(s, '{') || !(json = malloc(cap)))
        goto fail;
    json[0] = '{';
    if (!sc_take(s, '}')) {
        do {
            char *key;
            if (nkeys == SC_MAX_META || !sc_string(s, &key, &klen) ||
                !sc_take(s, ':') || !sc_string_esc(s, &val, &vlen, 1))
                goto fail;
            for (size_t i = 0; i < nkeys; i++)
                if (strcmp(keys[i], key) == 0)
                    goto fail; /* jansson rejects the header */
            keys[nkeys++] = key;
            if (used + klen + vlen + 8 > cap) {
                cap = 2 * (used + klen + vlen + 8);
                char *p = realloc(json, cap);
                if (!p)
                    goto fail;
                json = p;
            }
            if (used > 1)
                json[used++] = ',';
            json[used++] = '"';
            memcpy(json + used, key, klen);
            used += klen;
            memcpy(json + used, "\":\"", 3);
            used += 3;
            memcpy(json + used, val, vlen);
            used += vlen;
            json[used++] = '"';
        } while (sc_take(s, ','));
        if (!sc_take(s, '}'))
            goto fail;
    }
    json[used++] = '}';
    json[used] = '\0';
    *out = json;
    return 1;
fail:
    free(json);
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* No two tensors share a name (metadata is checked as it is read). */
static int sc_unique(const st_header *h)
{
    const char **names = malloc((h->count ? h->count : 1) * sizeof *names);
    int ok = names != NULL;
    for (size_t i = 0; ok && i < h->count; i++)
        names[i] = h->tensors[i].name;
    if (ok)
        qsort(names, h->count, sizeof *names, cmp_name);
    for (size_t i = 1; ok && i < h->count; i++)
        ok = strcmp(names[i - 1], names[i]) != 0;
    free(names);
    return ok;
}

/* The whole header on the fast path: 1 with h filled (names in *arena),
 * 0 with h and *arena left empty for the jansson path. */
static int st_fast(st_header *h, char **arena, const uint8_t *json, size_t n)
{
    st_scan s;
    size_t cap = 0, klen;
    char *key;
    *arena = n && json[0] == '{' ? malloc(n + 1) : NULL;
    if (!*arena)
        return 0;
    memcpy(*arena, json, n);
    s.p = *arena;
    s.end = *arena + n;
    if (!sc_take(&s, '{'))
        goto fail;
    if (!sc_take(&s, '}')) {
        do {
            if (!sc_string(&s, &key, &klen) || !sc_take(&s, ':'))
                goto fail;
            if (strcmp(key, "__metadata__") == 0) {
                if (h->metadata_json || !sc_metadata(&s, &h->metadata_json))
                    goto fail;
                continue;
            }
            if (h->count == cap) {
                cap = cap ? 2 * cap : 64;
                st_tensor *p = realloc(h->tensors, cap * sizeof *p);
                if (!p)
                    goto fail;
                h->tensors = p;
            }
            st_tensor *t = &h->tensors[h->count];
            memset(t, 0, sizeof *t);
            t->name = key;
            t->order = h->count;
            if (!sc_tensor(&s, t))
                goto fail;
            h->count++;
        } while (sc_take(&s, ','));
        if (!sc_take(&s, '}'))
            goto fail;
    }
    sc_ws(&s);
    if (s.p == s.end && sc_unique(h))
        return 1;
fail:
    free(h->tensors);
    free(h->metadata_json);
    h->tensors = NULL;
    h->metadata_json = NULL;
    h->count = 0;
    free(*arena);
    *arena = NULL;
    return 0;
}

/* The segment list: HEADER, then the sorted tensors at file offsets. */
static int st_build(elves_segments **out, st_header *h, size_t len,
                    elves_error *err)
{
    elves_segments *s = calloc(1, sizeof *s);
    if (!s)
        return es_fail(err, ELVES_E_NOMEM, "out of memory");
    s->format = ELVES_FMT_SAFETENSORS;
    s->file_size = len;
    s->items = calloc(h->count + 1, sizeof *s->items);
    if (!s->items) {
        elves_segments_free(s);
        return es_fail(err, ELVES_E_NOMEM, "out of memory");
    }
    uint64_t base = ST_PREFIX + h->hlen;
    s->items[0].kind = ELVES_SEG_HEADER;
    s->items[0].length = base;
    s->count = 1;
    for (size_t i = 0; i < h->count; i++) {
        const st_tensor *t = &h->tensors[i];
        elves_segment *g = &s->items[s->count];
        g->kind = ELVES_SEG_TENSOR;
        g->dtype = t->dtype;
        g->ndim = t->ndim;
        memcpy(g->shape, t->shape, sizeof g->shape);
        g->offset = base + t->begin;
        g->length = t->end - t->begin;
        g->name = strdup(t->name);
        if (!g->name) {
            elves_segments_free(s);
            return es_fail(err, ELVES_E_NOMEM, "out of memory");
        }
        s->count++;
    }
    s->metadata_json = h->metadata_json;
    h->metadata_json = NULL;
    *out = s;
    return ELVES_OK;
}

int elves_parse_safetensors(elves_segments **out, const uint8_t *data,
                            size_t len, elves_error *err)
{
    return es_parse_safetensors(out, data, len, 1, err);
}

int es_parse_safetensors(elves_segments **out, const uint8_t *data, size_t len,
                         int fast, elves_error *err)
{
    if (!out || (!data && len))
        return es_fail(err, ELVES_E_INVALID, "null argument");
    *out = NULL;
    st_header h = {0};
    int rc = st_read_prefix(&h.hlen, data, len, err);
    if (rc != ELVES_OK)
        return rc;
    json_t *root = NULL;
    char *arena = NULL;
    if (!fast || !st_fast(&h, &arena, data + ST_PREFIX, (size_t)h.hlen)) {
        rc = st_load_json(&root, data + ST_PREFIX, (size_t)h.hlen, err);
        if (rc == ELVES_OK)
            rc = st_read_entries(&h, root, err);
    }
    if (rc == ELVES_OK) {
        if (h.count > 1) /* the fast path leaves no array for none */
            qsort(h.tensors, h.count, sizeof *h.tensors, st_cmp);
        rc = st_check_layout(&h, len - ST_PREFIX - h.hlen, err);
    }
    if (rc == ELVES_OK)
        rc = st_build(out, &h, len, err);
    free(h.tensors);
    free(h.metadata_json);
    free(arena);
    json_decref(root);
    return rc;
}
