/*
 * units.c - coding units: which segments are encoded together.
 *
 * Small checkpoints are mostly small tensors: biases, norms, quantized
 * kernels of a few kB.  Coded one by one, each pays a block header, a codec
 * choice, its own entropy tables and a decode call of its own, which cost
 * more than the tensor saves (faceapi-age-gender: 51 tensors in 441 kB).
 * So runs of consecutive small tensors of one dtype become one unit, coded
 * as one byte range of that dtype.
 *
 * Measured on the 13 checkpoints of shared/data (elves bench): member limit
 * 2/4/8/16/64 KiB gave 1.268/1.268/1.268/1.267/1.262 in total, and
 * faceapi-landmark-68-tiny 1.320/1.323/1.325/1.297/1.274 (zstd -19: 1.320):
 * grouping larger uint8 tensors under one zstd table loses more than the
 * headers it saves.  Letting runs mix dtypes (opaque units) cost
 * human-blazeface 10% (2.23 -> 2.01): its small F32 tensors lose the float
 * codec.  A limit of 64 KiB per unit gave the same sizes as 256 KiB.
 *
 * A tensor that appears twice in the file stays a unit of its own, so the
 * copy can still be stored as a reference to the first.
 */
#include <stdlib.h>

#include "internal.h"

/* A segment joins a run when it is at most this long ... */
#define UNIT_MEMBER_MAX ((uint64_t)8 << 10)
/* ... and the run stays at most this long. */
#define UNIT_MAX ((uint64_t)256 << 10)

static int groupable(const elves_segment *s)
{
    return s->kind == ELVES_SEG_TENSOR && s->length > 0 &&
           s->length <= UNIT_MEMBER_MAX;
}

/* Tensors that occur more than once in the file (same fingerprint and the
 * same bytes): marked in dup[], so they are never grouped. */
static int mark_duplicates(uint8_t *dup, const elves_segments *segs,
                           const uint8_t *data)
{
    es_fp_table t;

    if (es_fp_table_init(&t, segs->count) != ELVES_OK)
        return ELVES_E_NOMEM;
    for (size_t i = 0; i < segs->count; i++) {
        if (!groupable(&segs->items[i]))
            continue;
        size_t j = es_fp_table_find_or_add(&t, segs, data, i);
        if (j != SIZE_MAX)
            dup[i] = dup[j] = 1;
    }
    es_fp_table_free(&t);
    return ELVES_OK;
}

/* The segment a run of tensors [first, first+count) of one dtype is coded
 * as. */
static elves_segment unit_segment(const elves_segments *segs, size_t first,
                                  size_t count)
{
    const elves_segment *a = &segs->items[first];
    elves_segment u;
    uint64_t len = 0;
    elves_dtype dt = a->dtype;

    if (count == 1)
        return *a;
    for (size_t i = first; i < first + count; i++)
        len += segs->items[i].length;
    if (elves_dtype_bits(dt) % 8 || len % (elves_dtype_bits(dt) / 8))
        dt = ELVES_DT_OPAQUE; /* sub-byte types: bytes */
    memset(&u, 0, sizeof u);
    u.kind = dt == ELVES_DT_OPAQUE ? ELVES_SEG_OPAQUE : ELVES_SEG_TENSOR;
    u.dtype = dt;
    u.offset = a->offset;
    u.length = len;
    if (dt != ELVES_DT_OPAQUE) {
        u.ndim = 1;
        u.shape[0] = len / (elves_dtype_bits(dt) / 8);
    }
    return u;
}

int elves_plan_units(elves_unit **out, size_t *count_out,
                     const elves_segments *segs, const uint8_t *data,
                     elves_error *err)
{
    if (!out || !count_out || !segs || (!data && segs->file_size))
        return es_fail(err, ELVES_E_INVALID, "units: null argument");
    *out = NULL;
    *count_out = 0;
    size_t n = segs->count;
    uint8_t *dup = calloc(n ? n : 1, 1);
    elves_unit *u = malloc((n ? n : 1) * sizeof *u);
    if (!dup || !u || mark_duplicates(dup, segs, data) != ELVES_OK) {
        free(dup);
        free(u);
        return es_fail(err, ELVES_E_NOMEM, "units: no memory");
    }
    size_t nu = 0;
    for (size_t i = 0; i < n;) {
        size_t end = i + 1;
        uint64_t len = segs->items[i].length;
        if (groupable(&segs->items[i]) && !dup[i])
            while (end < n && groupable(&segs->items[end]) && !dup[end] &&
                   segs->items[end].dtype == segs->items[i].dtype &&
                   len + segs->items[end].length <= UNIT_MAX)
                len += segs->items[end++].length;
        u[nu].first = i;
        u[nu].count = end - i;
        u[nu].seg = unit_segment(segs, i, end - i);
        nu++;
        i = end;
    }
    free(dup);
    *out = u;
    *count_out = nu;
    return ELVES_OK;
}

void elves_units_free(elves_unit *units)
{
    free(units);
}
