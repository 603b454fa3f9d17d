/*
 * base_file.c - a base checkpoint held in memory as the source of base
 * tensors for delta coding (elves compress/decompress --base, tests): its
 * tensors fingerprinted once, found by name for the encoder's match and by
 * fingerprint for the decoder's reads.
 */
#include <stdlib.h>

#include "internal.h"

typedef struct base_tensor {
    elves_fp128 fp;
    const elves_segment *seg;
} base_tensor;

struct elves_base_file {
    const uint8_t *data;
    elves_segments *segs;
    size_t n;
    base_tensor *by_fp;   /* sorted by fingerprint */
    base_tensor *by_name; /* the same, sorted by name */
};

static int cmp_fp(const void *a, const void *b)
{
    return memcmp(((const base_tensor *)a)->fp.b, ((const base_tensor *)b)->fp.b,
                  16);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const base_tensor *)a)->seg->name,
                  ((const base_tensor *)b)->seg->name);
}

void elves_base_file_free(elves_base_file *bf)
{
    if (!bf)
        return;
    elves_segments_free(bf->segs);
    free(bf->by_fp);
    free(bf->by_name);
    free(bf);
}

static int is_base_tensor(const elves_segment *s)
{
    return s->kind == ELVES_SEG_TENSOR && s->dtype != ELVES_DT_OPAQUE &&
           s->name && s->length;
}

int elves_base_file_open(elves_base_file **out, const uint8_t *data,
                         size_t len, elves_error *err)
{
    elves_base_file *bf;
    int rc;

    if (!out || (!data && len))
        return es_fail(err, ELVES_E_INVALID, "base: bad arguments");
    *out = NULL;
    bf = calloc(1, sizeof *bf);
    if (!bf)
        return es_fail(err, ELVES_E_NOMEM, "base: no memory");
    bf->data = data;
    rc = elves_segment_file(&bf->segs, data ? data : (const uint8_t *)"", len,
                            NULL);
    if (rc) {
        elves_base_file_free(bf);
        return es_fail(err, rc, "base: segmenting the file failed");
    }
    for (size_t i = 0; i < bf->segs->count; i++)
        bf->n += is_base_tensor(&bf->segs->items[i]);
    bf->by_fp = calloc(bf->n ? bf->n : 1, sizeof *bf->by_fp);
    bf->by_name = calloc(bf->n ? bf->n : 1, sizeof *bf->by_name);
    if (!bf->by_fp || !bf->by_name) {
        elves_base_file_free(bf);
        return es_fail(err, ELVES_E_NOMEM, "base: no memory");
    }
    for (size_t i = 0, k = 0; i < bf->segs->count; i++) {
        const elves_segment *s = &bf->segs->items[i];
        if (!is_base_tensor(s))
            continue;
        elves_tensor_fingerprint(&bf->by_fp[k].fp, s->dtype, s->shape, s->ndim,
                                 data + s->offset, (size_t)s->length);
        bf->by_fp[k].seg = s;
        bf->by_name[k] = bf->by_fp[k];
        k++;
    }
    qsort(bf->by_fp, bf->n, sizeof *bf->by_fp, cmp_fp);
    qsort(bf->by_name, bf->n, sizeof *bf->by_name, cmp_name);
    *out = bf;
    return ELVES_OK;
}

size_t elves_base_file_tensors(const elves_base_file *bf)
{
    return bf ? bf->n : 0;
}

static int base_match(void *ctx, const elves_segment *seg, elves_fp128 *fp)
{
    const elves_base_file *bf = ctx;
    base_tensor key;
    const base_tensor *hit;

    if (!seg || !seg->name || seg->kind != ELVES_SEG_TENSOR)
        return 0;
    key.seg = seg;
    hit = bsearch(&key, bf->by_name, bf->n, sizeof *bf->by_name, cmp_name);
    if (!hit || hit->seg->dtype != seg->dtype ||
        hit->seg->length != seg->length)
        return 0;
    *fp = hit->fp;
    return 1;
}

static int base_read(void *ctx, const elves_fp128 *fp, uint64_t offset,
                     uint32_t len, uint8_t *out)
{
    const elves_base_file *bf = ctx;
    base_tensor key;
    const base_tensor *hit;

    key.fp = *fp;
    hit = bsearch(&key, bf->by_fp, bf->n, sizeof *bf->by_fp, cmp_fp);
    if (!hit || offset > hit->seg->length || len > hit->seg->length - offset)
        return -1;
    memcpy(out, bf->data + hit->seg->offset + offset, len);
    return 0;
}

void elves_base_file_src(elves_base_src *out, const elves_base_file *bf)
{
    out->read = base_read;
    out->match = base_match;
    out->ctx = (void *)bf;
    out->file_sha256 = NULL;
}
