/*
 * segment.c - format detection and the never-failing segmentation entry
 * point: a file that looks like GGUF or safetensors goes to its parser; one
 * that does not, or fails validation, becomes a single OPAQUE segment so
 * it can still be stored (zstd + whole-file dedup).  Also the check that a
 * segment list tiles its file, which tests and fuzzers hold every parser to.
 *
 * An empty file is OPAQUE with one OPAQUE segment of length 0: callers can
 * always rely on count >= 1.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int is_json_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* safetensors: an 8-byte length N that fits in the file, then '{' (possibly
 * after whitespace, which the parser then refuses with a message). */
static int looks_like_safetensors(const uint8_t *data, size_t len)
{
    if (len < 9)
        return 0;
    uint64_t n = es_load64(data);
    if (n == 0 || n > len - 8)
        return 0;
    const uint8_t *p = data + 8, *end = p + n;
    while (p < end && is_json_space(*p))
        p++;
    return p < end && *p == '{';
}

static int looks_like_gguf(const uint8_t *data, size_t len)
{
    return len >= 4 && memcmp(data, "GGUF", 4) == 0;
}

static int opaque_segments(elves_segments **out, size_t len)
{
    elves_segments *s = calloc(1, sizeof *s);
    if (!s || !(s->items = calloc(1, sizeof *s->items))) {
        free(s);
        return ELVES_E_NOMEM;
    }
    s->format = ELVES_FMT_OPAQUE;
    s->file_size = len;
    s->count = 1;
    s->items[0].kind = ELVES_SEG_OPAQUE;
    s->items[0].length = len;
    *out = s;
    return ELVES_OK;
}

int elves_segment_file(elves_segments **out, const uint8_t *data, size_t len,
                       elves_error *why)
{
    if (why) {
        why->code = ELVES_OK;
        why->msg[0] = '\0';
    }
    if (!out || (!data && len))
        return es_fail(why, ELVES_E_INVALID, "null argument");
    *out = NULL;
    int rc = ELVES_E_FORMAT;
    if (looks_like_gguf(data, len))
        rc = elves_parse_gguf(out, data, len, why);
    else if (looks_like_safetensors(data, len))
        rc = elves_parse_safetensors(out, data, len, why);
    else
        return opaque_segments(out, len) == ELVES_OK
                   ? ELVES_OK
                   : es_fail(why, ELVES_E_NOMEM, "out of memory");
    if (rc == ELVES_OK || rc == ELVES_E_NOMEM)
        return rc;
    /* Looked like a checkpoint but is not a valid one: `why` keeps the
     * parser's message and the file is stored as opaque bytes. */
    if (opaque_segments(out, len) != ELVES_OK)
        return es_fail(why, ELVES_E_NOMEM, "out of memory");
    return ELVES_OK;
}

/* Product of the dims; a zero dim makes it 0 whatever the others are.
 * Returns 0 on overflow. */
static int shape_numel(uint64_t *out, const uint64_t *shape, uint32_t ndim)
{
    uint64_t n = 1;
    for (uint32_t d = 0; d < ndim; d++)
        if (shape[d] == 0)
            return *out = 0, 1;
    for (uint32_t d = 0; d < ndim; d++)
        if (!es_mul_ok(n, shape[d], &n))
            return 0;
    *out = n;
    return 1;
}

/* Per-segment sanity: known kind and dtype, dims in range, and a TENSOR with
 * a dtype exactly as long as its elements. */
static int check_one(const elves_segment *g, size_t i, elves_error *err)
{
    if ((unsigned)g->kind > ELVES_SEG_OPAQUE)
        return es_fail(err, ELVES_E_INVALID, "segment %zu: bad kind %d", i,
                       (int)g->kind);
    if ((unsigned)g->dtype >= ELVES_DT_COUNT || g->ndim > ELVES_MAX_DIMS)
        return es_fail(err, ELVES_E_INVALID,
                       "segment %zu: bad dtype %d or ndim %u", i, (int)g->dtype,
                       g->ndim);
    if (g->kind != ELVES_SEG_TENSOR && g->dtype != ELVES_DT_OPAQUE)
        return es_fail(err, ELVES_E_INVALID,
                       "segment %zu: dtype on a non-tensor segment", i);
    if (g->kind != ELVES_SEG_TENSOR || g->dtype == ELVES_DT_OPAQUE)
        return ELVES_OK;
    uint64_t numel, bytes = 0;
    if (!shape_numel(&numel, g->shape, g->ndim))
        return es_fail(err, ELVES_E_INVALID,
                       "segment %zu: element count overflows", i);
    unsigned eb = elves_dtype_bits(g->dtype);
    int whole = eb % 8 == 0 ? es_mul_ok(numel, eb / 8, &bytes)
                            : es_mul_ok(numel, eb, &bytes) && bytes % 8 == 0;
    if (eb % 8)
        bytes /= 8;
    if (!whole || bytes != g->length)
        return es_fail(err, ELVES_E_INVALID,
                       "segment %zu ('%.64s'): length %llu does not match "
                       "its shape and dtype",
                       i, g->name ? g->name : "",
                       (unsigned long long)g->length);
    return ELVES_OK;
}

int elves_segments_check(const elves_segments *segs, uint64_t file_size,
                         elves_error *err)
{
    if (!segs || !segs->items || segs->count == 0)
        return es_fail(err, ELVES_E_INVALID, "empty segment list");
    if (segs->file_size != file_size)
        return es_fail(
            err, ELVES_E_INVALID, "list says %llu bytes, file has %llu",
            (unsigned long long)segs->file_size, (unsigned long long)file_size);
    uint64_t at = 0;
    for (size_t i = 0; i < segs->count; i++) {
        const elves_segment *g = &segs->items[i];
        if (g->offset != at)
            return es_fail(err, ELVES_E_INVALID,
                           "segment %zu starts at %llu, expected %llu", i,
                           (unsigned long long)g->offset,
                           (unsigned long long)at);
        if (g->length > file_size - at)
            return es_fail(err, ELVES_E_INVALID,
                           "segment %zu ends past the end of the file", i);
        int rc = check_one(g, i, err);
        if (rc != ELVES_OK)
            return rc;
        at += g->length;
    }
    if (at != file_size)
        return es_fail(err, ELVES_E_INVALID,
                       "segments end at %llu, file has %llu bytes",
                       (unsigned long long)at, (unsigned long long)file_size);
    return ELVES_OK;
}
