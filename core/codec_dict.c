/*
 * codec_dict.c - dictionary coding: a block whose elements take few
 * distinct values (masks, quantized weights, padding, small integers)
 * becomes a sorted table of those values plus one index per element.
 *
 * The element (unit) is the dtype's size: 1, 2, 4 or 8 bytes.  Indices are
 * u8 for up to 256 values, packed 1, 2 or 4 bits wide when the table is
 * that small and packing comes out smaller, or u16 (two byte planes) for up
 * to 65536 values of 4- or 8-byte elements.  Byte elements are only coded
 * with up to 16 values: u8 indices would merely rename the bytes.
 *
 * Payload:
 *   u8  width       bits per index: 1, 2, 4, 8 or 16
 *   u32 k           table size, 1..65536 (<= 2^width)
 *   unit streams    byte planes of the table, k bytes each, most
 *                   significant first (values sorted ascending)
 *   index streams   width 8: n bytes; width 16: high then low byte plane;
 *                   width 1/2/4: ceil(n * width / 8) bytes, first index in
 *                   the lowest bits
 *   raw_len % unit tail bytes, as they are
 */
#include <stdlib.h>

#include "codecs.h"
#include "internal.h"

#define MAX_PACKED 16
#define MAX_SMALL 256
#define MAX_WIDE 65536
/* Widening to 16-bit indices is abandoned as soon as the distinct values
 * stop being rare: more than half the elements seen so far plus some
 * slack (all-distinct data stops after about 2 * SPARSE_SLACK elements),
 * or more than a quarter of the block at the end. */
#define SPARSE_SLACK 4096
#define SPARSE_FINAL_DIV 4

typedef struct dict {
    unsigned unit;
    size_t n;
    uint32_t k;
    uint64_t *values; /* k values in first-seen order, then sorted */
    uint16_t *idx;    /* n indices */
    uint32_t *slots;  /* open-addressing hash: index + 1, 0 = empty */
    uint32_t slot_mask;
} dict;

static uint64_t load_unit(const uint8_t *p, unsigned unit)
{
    switch (unit) {
    case 1:
        return p[0];
    case 2:
        return es_load16(p);
    case 4:
        return es_load32(p);
    default:
        return es_load64(p);
    }
}

static void store_unit(uint8_t *p, unsigned unit, uint64_t v)
{
    switch (unit) {
    case 1:
        p[0] = (uint8_t)v;
        break;
    case 2:
        es_store16(p, (uint16_t)v);
        break;
    case 4:
        es_store32(p, (uint32_t)v);
        break;
    default:
        es_store64(p, v);
        break;
    }
}

static uint32_t hash_unit(uint64_t v)
{
    return (uint32_t)((v * 0x9e3779b97f4a7c15ull) >> 40);
}

static void dict_free(dict *d)
{
    free(d->values);
    free(d->idx);
    free(d->slots);
}

/* Index of v in the table, adding it; -1 when the table is full. */
static int64_t dict_lookup(dict *d, uint64_t v, uint32_t limit)
{
    uint32_t h = hash_unit(v) & d->slot_mask;
    for (;;) {
        uint32_t s = d->slots[h];
        if (s == 0)
            break;
        if (d->values[s - 1] == v)
            return s - 1;
        h = (h + 1) & d->slot_mask;
    }
    if (d->k >= limit)
        return -1;
    d->values[d->k] = v;
    d->slots[h] = ++d->k;
    return d->k - 1;
}

/* dict_build for byte elements: a direct map instead of the hash per
 * element (1.6x the encode speed on 1 MiB of 4 distinct bytes); the hash
 * slots, which dict_sort reads, are filled once per distinct value. */
static int dict_build_bytes(dict *d, const uint8_t *src, uint32_t limit)
{
    uint8_t map[256] = {0}; /* index + 1, 0 = not seen */
    for (size_t i = 0; i < d->n; i++) {
        unsigned m = map[src[i]];
        if (m == 0) {
            if (d->k >= limit)
                return ES_NOFIT;
            d->values[d->k] = src[i];
            m = map[src[i]] = (uint8_t)++d->k;
        }
        d->idx[i] = (uint16_t)(m - 1);
    }
    for (uint32_t j = 0; j < d->k; j++) {
        uint32_t h = hash_unit(d->values[j]) & d->slot_mask;
        while (d->slots[h])
            h = (h + 1) & d->slot_mask;
        d->slots[h] = j + 1;
    }
    return 0;
}

/* Fills d->values/idx with at most `limit` distinct values.  Returns 0,
 * ES_NOFIT (too many values), or ELVES_E_NOMEM. */
static int dict_build(dict *d, const uint8_t *src, uint32_t limit)
{
    /* Load factor at most 1/2 for the most values this block can hold. */
    size_t most = d->n < limit ? d->n : limit;
    uint32_t slots = 64;
    while (slots < 2 * most)
        slots *= 2;
    d->k = 0;
    d->slot_mask = slots - 1;
    free(d->slots);
    d->slots = calloc(slots, sizeof *d->slots);
    if (!d->slots)
        return ELVES_E_NOMEM;
    if (d->unit == 1 && limit <= 255)
        return dict_build_bytes(d, src, limit);
    for (size_t i = 0; i < d->n; i++) {
        int64_t at =
            dict_lookup(d, load_unit(src + i * d->unit, d->unit), limit);
        if (at < 0)
            return ES_NOFIT;
        d->idx[i] = (uint16_t)at;
        if (limit > MAX_SMALL && d->k > i / 2 + SPARSE_SLACK)
            return ES_NOFIT;
    }
    if (limit > MAX_SMALL && d->k > d->n / SPARSE_FINAL_DIV)
        return ES_NOFIT;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorts the table (deterministic output, compressible high planes) and
 * renumbers the indices to match. */
static int dict_sort(dict *d)
{
    uint64_t *sorted = malloc(d->k * sizeof *sorted);
    uint32_t *order = malloc(d->k * sizeof *order); /* old -> new index */
    if (!sorted || !order) {
        free(sorted);
        free(order);
        return ELVES_E_NOMEM;
    }
    memcpy(sorted, d->values, d->k * sizeof *sorted);
    qsort(sorted, d->k, sizeof *sorted, cmp_u64);
    for (uint32_t j = 0; j < d->k; j++) {
        uint32_t h = hash_unit(sorted[j]) & d->slot_mask;
        while (d->values[d->slots[h] - 1] != sorted[j])
            h = (h + 1) & d->slot_mask;
        order[d->slots[h] - 1] = j;
    }
    for (size_t i = 0; i < d->n; i++)
        d->idx[i] = (uint16_t)order[d->idx[i]];
    memcpy(d->values, sorted, d->k * sizeof *sorted);
    free(sorted);
    free(order);
    return 0;
}

static unsigned width_for(uint32_t k)
{
    return k <= 2 ? 1 : k <= 4 ? 2 : k <= 16 ? 4 : k <= MAX_SMALL ? 8 : 16;
}

/* Table as unit byte planes, most significant first. */
static int put_table(es_stream_ctx *sc, uint8_t *dst, size_t cap, size_t *pos,
                     const dict *d, uint8_t *tmp)
{
    int rc = 0;
    for (unsigned b = 0; b < d->unit && rc == 0; b++) {
        unsigned shift = 8 * (d->unit - 1 - b);
        for (uint32_t j = 0; j < d->k; j++)
            tmp[j] = (uint8_t)(d->values[j] >> shift);
        rc = es_stream_put(sc, dst, cap, pos, tmp, d->k, ES_ENTROPY);
    }
    return rc;
}

/* Index streams at the given width into dst; tmp holds 2n bytes. */
static int put_indices(es_stream_ctx *sc, uint8_t *dst, size_t cap, size_t *pos,
                       const dict *d, unsigned width, uint8_t *tmp)
{
    size_t n = d->n;
    if (width == 16) {
        for (size_t i = 0; i < n; i++) {
            tmp[i] = (uint8_t)(d->idx[i] >> 8);
            tmp[n + i] = (uint8_t)d->idx[i];
        }
        int rc = es_stream_put(sc, dst, cap, pos, tmp, n, ES_BEST);
        return rc ? rc : es_stream_put(sc, dst, cap, pos, tmp + n, n, ES_BEST);
    }
    if (width == 8) {
        for (size_t i = 0; i < n; i++)
            tmp[i] = (uint8_t)d->idx[i];
        return es_stream_put(sc, dst, cap, pos, tmp, n, ES_BEST);
    }
    {
        /* per is a power of two: shifts, not divisions, per index */
        unsigned per = 8 / width, lg = width == 1 ? 3 : width == 2 ? 2 : 1;
        size_t bytes = (n + per - 1) / per;
        memset(tmp, 0, bytes);
        for (size_t i = 0; i < n; i++)
            tmp[i >> lg] |= (uint8_t)(d->idx[i] << (width * (i & (per - 1))));
        return es_stream_put(sc, dst, cap, pos, tmp, bytes, ES_BEST);
    }
}

/* Whole payload at one index width; 0, ES_NOFIT or < 0. */
static int put_payload(es_stream_ctx *sc, size_t *out, uint8_t *dst, size_t cap,
                       const dict *d, unsigned width, const uint8_t *tail,
                       size_t tail_len, uint8_t *tmp)
{
    size_t pos = 5;
    int rc;
    if (cap < 5)
        return ES_NOFIT;
    dst[0] = (uint8_t)width;
    es_store32(dst + 1, d->k);
    rc = put_table(sc, dst, cap, &pos, d, tmp);
    if (rc == 0)
        rc = put_indices(sc, dst, cap, &pos, d, width, tmp);
    if (rc == 0)
        rc = es_bytes_put(dst, cap, &pos, tail, tail_len);
    if (rc == 0)
        *out = pos;
    return rc;
}

/* Encodes with the natural width and, for tables of up to 16 values, also
 * as u8 indices, keeping the smaller (packing can hide runs from zstd). */
static int dict_emit(es_stream_ctx *sc, size_t *out, uint8_t *dst, size_t cap,
                     const dict *d, const uint8_t *tail, size_t tail_len)
{
    unsigned width = width_for(d->k);
    uint8_t *tmp = es_scratch(sc, ES_SCRATCH_CODEC, 2 * d->n + d->k + 8);
    size_t first = 0;
    int rc;
    if (!tmp)
        return ELVES_E_NOMEM;
    rc = put_payload(sc, &first, dst, cap, d, width, tail, tail_len, tmp);
    if (rc < 0 || width >= 8)
        return rc == 0 ? (*out = first, 0) : rc;
    {
        /* Second try after the first, then keep the better in place. */
        size_t second = 0, room = rc == 0 ? first : cap;
        uint8_t *alt = malloc(room);
        int rc2;
        if (!alt)
            return ELVES_E_NOMEM;
        rc2 = put_payload(sc, &second, alt, room, d, 8, tail, tail_len, tmp);
        if (rc2 == 0 && (rc != 0 || second < first)) {
            memcpy(dst, alt, second);
            first = second;
            rc = 0;
        } else if (rc2 < 0) {
            rc = rc2;
        }
        free(alt);
    }
    if (rc == 0)
        *out = first;
    return rc;
}

int es_dict_encode(es_stream_ctx *sc, size_t *out, uint8_t *dst, size_t cap,
                   const uint8_t *src, size_t len, elves_dtype dt)
{
    dict d = {0};
    int rc;
    d.unit = es_dict_unit(dt);
    d.n = len / d.unit;
    if (d.n == 0)
        return ES_NOFIT;
    d.values = malloc((d.n < MAX_WIDE ? d.n : MAX_WIDE) * sizeof *d.values);
    d.idx = malloc(d.n * sizeof *d.idx);
    if (!d.values || !d.idx) {
        dict_free(&d);
        return ELVES_E_NOMEM;
    }
    /* Byte-wide elements only gain when the indices can be packed. */
    rc = dict_build(&d, src, d.unit == 1 ? MAX_PACKED : MAX_SMALL);
    if (rc == ES_NOFIT && d.unit >= 4)
        rc = dict_build(&d, src, MAX_WIDE);
    if (rc == 0)
        rc = dict_sort(&d);
    if (rc == 0)
        rc = dict_emit(sc, out, dst, cap, &d, src + d.n * d.unit, len % d.unit);
    dict_free(&d);
    return rc;
}

/* ---- decoding ---------------------------------------------------------- */

static int get_table(es_stream_ctx *sc, uint64_t *values, uint32_t k,
                     unsigned unit, const uint8_t *src, size_t len, size_t *pos,
                     uint8_t *tmp)
{
    memset(values, 0, k * sizeof *values);
    for (unsigned b = 0; b < unit; b++) {
        int rc = es_stream_get(sc, tmp, k, src, len, pos);
        if (rc)
            return rc;
        for (uint32_t j = 0; j < k; j++)
            values[j] = values[j] << 8 | tmp[j];
    }
    return 0;
}

/* Expands the index streams into dst; any index >= k is corruption. */
static int get_indices(es_stream_ctx *sc, uint8_t *dst, size_t n, unsigned unit,
                       unsigned width, const uint64_t *values, uint32_t k,
                       const uint8_t *src, size_t len, size_t *pos,
                       uint8_t *tmp)
{
    uint32_t bad = 0;
    int rc;
    if (width == 16) {
        rc = es_stream_get(sc, tmp, n, src, len, pos);
        if (rc == 0)
            rc = es_stream_get(sc, tmp + n, n, src, len, pos);
        for (size_t i = 0; rc == 0 && i < n; i++) {
            uint32_t j = (uint32_t)tmp[i] << 8 | tmp[n + i];
            bad |= j >= k;
            store_unit(dst + i * unit, unit, values[j < k ? j : 0]);
        }
    } else {
        unsigned per = 8 / width, mask = (1u << width) - 1;
        unsigned lg = width == 1 ? 3 : width == 2 ? 2 : width == 4 ? 1 : 0;
        rc = es_stream_get(sc, tmp, (n + per - 1) / per, src, len, pos);
        for (size_t i = 0; rc == 0 && i < n; i++) {
            uint32_t j = (tmp[i >> lg] >> (width * (i & (per - 1)))) & mask;
            bad |= j >= k;
            store_unit(dst + i * unit, unit, values[j < k ? j : 0]);
        }
    }
    return rc ? rc : bad ? ELVES_E_CORRUPT : 0;
}

int es_dict_decode(es_stream_ctx *sc, uint8_t *dst, size_t len,
                   const uint8_t *src, size_t slen, elves_dtype dt)
{
    unsigned unit = es_dict_unit(dt), width;
    size_t n = len / unit, pos = 5;
    uint32_t k;
    uint64_t *values;
    uint8_t *tmp;
    int rc;
    if (slen < 5)
        return ELVES_E_CORRUPT;
    width = src[0];
    k = es_load32(src + 1);
    if ((width != 1 && width != 2 && width != 4 && width != 8 && width != 16) ||
        k == 0 || k > MAX_WIDE || (width < 16 && k > (1u << width)))
        return ELVES_E_CORRUPT;
    values = malloc(k * sizeof *values);
    tmp = es_scratch(sc, ES_SCRATCH_CODEC, 2 * n + k + 8);
    if (!values || !tmp) {
        free(values);
        return ELVES_E_NOMEM;
    }
    rc = get_table(sc, values, k, unit, src, slen, &pos, tmp);
    if (rc == 0)
        rc = get_indices(sc, dst, n, unit, width, values, k, src, slen, &pos,
                         tmp);
    free(values);
    if (rc == 0)
        rc = es_bytes_get(dst + n * unit, len % unit, src, slen, &pos);
    if (rc == 0 && pos != slen)
        rc = ELVES_E_CORRUPT;
    return rc;
}
