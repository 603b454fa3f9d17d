/*
 * codec_xor.c - the XOR (delta) codec's planes: a block of a fine-tuned
 * tensor XORed with the same bytes of its base tensor, split and
 * entropy-coded.  The block layer (block.c) writes the base reference in
 * front of this payload and reads the base bytes; this file only sees the
 * two byte arrays.
 *
 * A fine-tune leaves most exponents alone and moves mantissas by a few
 * units, so the XOR is mostly zero in the exponent plane and small in the
 * top mantissa plane, and near random only in the low mantissa bytes of
 * the elements whose upper bits moved.  The planes are the FLOAT codec's
 * (es_float_split: exponent first), so XOR commutes with the split.  Each
 * plane after the first is coded as two streams, by context: elements
 * whose planes above are all zero (their change is small), and the others
 * (it is large, often random).  On the BF16 family of tests/data/family
 * that beat the order-0 bound of the byte planes (elves bench --base).
 *
 * Payload (after the block layer's base reference):
 *   u8 planes (1 for dtypes the FLOAT codec does not split, else the
 *   element size), the first plane's stream, for each further plane the
 *   context-0 stream then the context-1 stream, then the len % planes
 *   tail bytes of the XOR as they are.
 */
#include "codecs.h"
#include "internal.h"

#define MAX_PLANES 8

ES_VECTORIZE static void xor_bytes(uint8_t *restrict d,
                                   const uint8_t *restrict a,
                                   const uint8_t *restrict b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        d[i] = a[i] ^ b[i];
}

void es_xor_into(uint8_t *dst, const uint8_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] ^= src[i];
}

unsigned es_xor_planes(elves_dtype dt)
{
    return es_float_dtype(dt) ? elves_dtype_bits(dt) / 8 : 1;
}

/* Scratch: the XOR (n), its planes (n), a context buffer (m) and the
 * per-element "planes above are non-zero" flags (m). */
typedef struct xor_work {
    uint8_t *x, *plane[MAX_PLANES], *ctx, *moved;
    size_t m; /* elements */
    unsigned np;
} xor_work;

static int work_alloc(es_stream_ctx *sc, xor_work *w, size_t n,
                      elves_dtype dt)
{
    uint8_t *buf;
    w->np = es_xor_planes(dt);
    w->m = n / w->np;
    buf = es_scratch(sc, ES_SCRATCH_CODEC, 2 * n + 2 * w->m + 64);
    if (!buf)
        return ELVES_E_NOMEM;
    w->x = buf;
    for (unsigned k = 0; k < w->np; k++)
        w->plane[k] = buf + n + k * w->m;
    w->ctx = buf + 2 * n;
    w->moved = w->ctx + w->m;
    return 0;
}

static void split_planes(xor_work *w, elves_dtype dt)
{
    if (w->np == 1)
        memcpy(w->plane[0], w->x, w->m);
    else
        es_float_split(w->plane, w->x, w->m, dt);
}

static void mark_moved(uint8_t *moved, const uint8_t *p, size_t m, int first)
{
    if (first)
        for (size_t i = 0; i < m; i++)
            moved[i] = p[i] != 0;
    else
        for (size_t i = 0; i < m; i++)
            moved[i] |= p[i] != 0;
}

/* ctx[0..n0) = p where !moved, ctx[n0..m) = p where moved; returns n0. */
static size_t partition(uint8_t *ctx, const uint8_t *p, const uint8_t *moved,
                        size_t m, size_t n0)
{
    size_t a = 0, b = n0;
    for (size_t i = 0; i < m; i++) {
        if (moved[i])
            ctx[b++] = p[i];
        else
            ctx[a++] = p[i];
    }
    return a;
}

static void unpartition(uint8_t *p, const uint8_t *ctx, const uint8_t *moved,
                        size_t m, size_t n0)
{
    size_t a = 0, b = n0;
    for (size_t i = 0; i < m; i++)
        p[i] = moved[i] ? ctx[b++] : ctx[a++];
}

static size_t count_still(const uint8_t *moved, size_t m)
{
    size_t n = 0;
    for (size_t i = 0; i < m; i++)
        n += !moved[i];
    return n;
}

int es_xor_encode(es_stream_ctx *sc, size_t *out, uint8_t *dst, size_t cap,
                  const uint8_t *src, const uint8_t *base, size_t n,
                  elves_dtype dt)
{
    xor_work w;
    size_t pos = 0, n0;
    int rc = work_alloc(sc, &w, n, dt);
    if (rc)
        return rc;
    if (cap < 1)
        return ES_NOFIT;
    xor_bytes(w.x, src, base, n);
    split_planes(&w, dt);
    dst[pos++] = (uint8_t)w.np;
    rc = es_stream_put(sc, dst, cap, &pos, w.plane[0], w.m, ES_ENTROPY_SPLIT);
    for (unsigned k = 1; k < w.np && rc == 0; k++) {
        mark_moved(w.moved, w.plane[k - 1], w.m, k == 1);
        n0 = count_still(w.moved, w.m);
        partition(w.ctx, w.plane[k], w.moved, w.m, n0);
        rc = es_stream_put(sc, dst, cap, &pos, w.ctx, n0, ES_ENTROPY);
        if (rc == 0)
            rc = es_stream_put(sc, dst, cap, &pos, w.ctx + n0, w.m - n0,
                               ES_ENTROPY);
    }
    if (rc == 0)
        rc = es_bytes_put(dst, cap, &pos, w.x + w.m * w.np, n % w.np);
    if (rc == 0)
        *out = pos;
    return rc;
}

int es_xor_decode(es_stream_ctx *sc, uint8_t *dst, size_t n,
                  const uint8_t *src, size_t len, elves_dtype dt)
{
    xor_work w;
    size_t pos = 0, n0;
    int rc = work_alloc(sc, &w, n, dt);
    if (rc)
        return rc;
    if (len < 1 || src[pos++] != w.np)
        return ELVES_E_CORRUPT;
    rc = es_stream_get(sc, w.plane[0], w.m, src, len, &pos);
    for (unsigned k = 1; k < w.np && rc == 0; k++) {
        mark_moved(w.moved, w.plane[k - 1], w.m, k == 1);
        n0 = count_still(w.moved, w.m);
        rc = es_stream_get(sc, w.ctx, n0, src, len, &pos);
        if (rc == 0)
            rc = es_stream_get(sc, w.ctx + n0, w.m - n0, src, len, &pos);
        if (rc == 0)
            unpartition(w.plane[k], w.ctx, w.moved, w.m, n0);
    }
    if (rc)
        return rc;
    if (w.np == 1)
        memcpy(w.x, w.plane[0], w.m);
    else
        es_float_merge(w.x, (const uint8_t *const *)w.plane, w.m, dt);
    rc = es_bytes_get(w.x + w.m * w.np, n % w.np, src, len, &pos);
    if (rc == 0 && pos != len)
        return ELVES_E_CORRUPT; /* trailing bytes: not what the encoder wrote */
    if (rc == 0)
        es_xor_into(dst, w.x, n); /* dst holds the base bytes */
    return rc;
}
