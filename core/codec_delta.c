/*
 * codec_delta.c - the delta codec's payload: a block of a fine-tuned
 * tensor against the same bytes of its base tensor, transformed, split
 * into planes and entropy-coded.  The block layer (block.c) writes the base
 * reference in front of this payload and reads the base bytes; this file
 * only sees the two byte arrays.
 *
 * Transforms (both bit-exact for every input; they work on bit patterns,
 * never on float arithmetic):
 *   XOR  x = a ^ b, split as the FLOAT codec splits floats (exponent
 *        first) or as one plane of bytes for other dtypes.
 *   SUB  for float dtypes: the bit patterns mapped to integers that order
 *        as the values do (t(x) = x with the non-sign bits flipped when
 *        the sign is set, an involution), d = t(a) - t(b) modulo 2^w, then
 *        zigzag so small changes of either sign are small numbers; planes
 *        are its bytes from the top.  A fine-tune moves a weight by a few
 *        units in the last place, also across a power of two, where XOR
 *        flips exponent and mantissa bits at once: on the BF16 family of
 *        tests/data/family SUB planes carry 6.6-6.8 bits an element where
 *        the XOR byte planes carry 7.2-7.5.
 * Each plane after the first is coded as two streams by context: the
 * elements whose planes above are all zero (a small change), then the
 * others.  A stream that is mostly zero (the top planes) is sent as a
 * bitmap of its non-zero bytes plus those bytes: a Huffman code spends at
 * least one bit a symbol, which is twice the entropy of a plane that is
 * 95% zero.
 *
 * Payload (after the block layer's base reference):
 *   u8 transform (0 XOR, 1 SUB), u8 planes (1 for XOR of a dtype the FLOAT
 *   codec does not split, else the element size), the first plane's
 *   stream, for each further plane the context-0 then the context-1
 *   stream, then the len % planes tail bytes of a ^ b as they are.
 *   Each stream: u8 0 then a stream (stream.h), or u8 1 then the stream of
 *   its ceil(n / 8) bitmap bytes (bit i % 8 of byte i / 8: byte i is not
 *   zero) and the stream of its non-zero bytes.
 */
#include "codecs.h"
#include "internal.h"

#define MAX_PLANES 8
enum { T_XOR = 0, T_SUB = 1 };
enum { S_PLAIN = 0, S_SPARSE = 1 };

unsigned es_delta_planes(elves_dtype dt)
{
    return es_float_dtype(dt) ? elves_dtype_bits(dt) / 8 : 1;
}

/* ---- transforms ---------------------------------------------------------- */

ES_VECTORIZE static void xor_bytes(uint8_t *restrict d,
                                   const uint8_t *restrict a,
                                   const uint8_t *restrict b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        d[i] = a[i] ^ b[i];
}

/* dst[i] ^= src[i]. */
ES_VECTORIZE static void xor_into(uint8_t *restrict dst,
                                  const uint8_t *restrict src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] ^= src[i];
}

/* SUB for w-byte elements: z = zigzag(t(a) - t(b)), and back (for 4 and 8
 * bytes; 2 bytes is merge_sub2). */
#define SUB_FNS(W, T, ST)                                                      \
    static inline T order##W(T x)                                              \
    {                                                                          \
        T sign = (T)(x >> (W * 8 - 1));                                        \
        return x ^ (T)((T)0 - sign) >> 1;                                      \
    }                                                                          \
    ES_VECTORIZE static void sub_fwd##W(uint8_t *restrict z,                   \
                                        const uint8_t *restrict a,             \
                                        const uint8_t *restrict b, size_t m)   \
    {                                                                          \
        for (size_t i = 0; i < m; i++) {                                       \
            T x, y, d;                                                         \
            memcpy(&x, a + W * i, W);                                          \
            memcpy(&y, b + W * i, W);                                          \
            d = (T)(order##W(x) - order##W(y));                                \
            d = (T)((T)(d << 1) ^ (T)((ST)d >> (W * 8 - 1)));                  \
            memcpy(z + W * i, &d, W);                                          \
        }                                                                      \
    }
#define SUB_INV(W, T)                                                          \
    ES_VECTORIZE static void sub_inv##W(uint8_t *restrict out,                 \
                                        const uint8_t *restrict z, size_t m)   \
    {                                                                          \
        for (size_t i = 0; i < m; i++) {                                       \
            T zz, y, d;                                                        \
            memcpy(&zz, z + W * i, W);                                         \
            memcpy(&y, out + W * i, W);                                        \
            d = (T)((zz >> 1) ^ (T)((T)0 - (T)(zz & 1)));                      \
            y = order##W((T)(order##W(y) + d));                                \
            memcpy(out + W * i, &y, W);                                        \
        }                                                                      \
    }
SUB_FNS(2, uint16_t, int16_t)
SUB_FNS(4, uint32_t, int32_t)
SUB_FNS(8, uint64_t, int64_t)
SUB_INV(4, uint32_t)
SUB_INV(8, uint64_t)

/* BF16 and F16: the two planes merged and the SUB undone in one pass. */
ES_CLONES ES_VECTORIZE static void merge_sub2(uint8_t *restrict out,
                                              const uint8_t *restrict hi,
                                              const uint8_t *restrict lo,
                                              size_t m)
{
    for (size_t i = 0; i < m; i++) {
        uint16_t zz = (uint16_t)(hi[i] << 8 | lo[i]), y;
        memcpy(&y, out + 2 * i, 2);
        uint16_t d = (uint16_t)((zz >> 1) ^ (uint16_t)(0u - (zz & 1u)));
        y = order2((uint16_t)(order2(y) + d));
        memcpy(out + 2 * i, &y, 2);
    }
}

/* Byte k of every w-byte element, from the top, into plane k; and back. */
static void byte_split(uint8_t *const *p, const uint8_t *src, size_t m,
                       unsigned w)
{
    for (unsigned k = 0; k < w; k++) {
        const uint8_t *s = src + (w - 1 - k);
        uint8_t *d = p[k];
        for (size_t i = 0; i < m; i++)
            d[i] = s[(size_t)w * i];
    }
}

static void byte_merge(uint8_t *dst, const uint8_t *const *p, size_t m,
                       unsigned w)
{
    for (unsigned k = 0; k < w; k++) {
        uint8_t *d = dst + (w - 1 - k);
        const uint8_t *s = p[k];
        for (size_t i = 0; i < m; i++)
            d[(size_t)w * i] = s[i];
    }
}

/* ---- scratch ------------------------------------------------------------- */

/* The transformed bytes (n), their planes (n), the two context streams of
 * a plane and a sparse stream's bitmap and values (m + 1 each: the
 * branch-free loops touch one slot past the end), and the per-element
 * "planes above are non-zero" flags (m). */
typedef struct delta_work {
    uint8_t *x, *plane[MAX_PLANES], *c0, *c1, *bits, *vals, *moved;
    size_t m; /* elements */
    unsigned np;
} delta_work;

static int work_alloc(es_stream_ctx *sc, delta_work *w, size_t n,
                      unsigned np)
{
    uint8_t *buf;
    w->np = np;
    w->m = n / np;
    buf = es_scratch(sc, ES_SCRATCH_CODEC, 2 * n + 5 * (w->m + 1) + 64);
    if (!buf)
        return ELVES_E_NOMEM;
    w->x = buf;
    for (unsigned k = 0; k < np; k++)
        w->plane[k] = buf + n + k * w->m;
    w->c0 = buf + 2 * n;
    w->c1 = w->c0 + w->m + 1;
    w->bits = w->c1 + w->m + 1;
    w->vals = w->bits + w->m + 1;
    w->moved = w->vals + w->m + 1;
    return 0;
}

/* ---- contexts ------------------------------------------------------------ */

/* moved[i] = 1 where plane p (or, unless first, a plane before it) is
 * non-zero; returns how many are still 0. */
ES_VECTORIZE static size_t mark_moved(uint8_t *restrict moved,
                                      const uint8_t *restrict p, size_t m,
                                      int first)
{
    size_t still = 0;
    for (size_t i = 0; i < m; i++) {
        uint8_t v = (uint8_t)((first ? 0 : moved[i]) | (p[i] != 0));
        moved[i] = v;
        still += !v;
    }
    return still;
}

/* c0 = p where !sel, c1 = p where sel, in order; branch-free (each value
 * goes to both, only one cursor moves).  Returns the c1 count. */
static size_t partition(uint8_t *restrict c0, uint8_t *restrict c1,
                        const uint8_t *restrict p, const uint8_t *restrict sel,
                        size_t m)
{
    size_t a = 0, b = 0;
    for (size_t i = 0; i < m; i++) {
        uint8_t s = sel[i] != 0;
        c0[a] = p[i];
        c1[b] = p[i];
        a += !s;
        b += s;
    }
    return b;
}

/* The inverse.  Runs of 8 unselected elements (most of them, below the
 * top plane of a fine-tune) are copied 8 at a time. */
static void unpartition(uint8_t *restrict p, const uint8_t *restrict c0,
                        const uint8_t *restrict c1,
                        const uint8_t *restrict sel, size_t m)
{
    size_t a = 0, b = 0, i = 0;
    for (; i + 8 <= m; i += 8) {
        uint64_t any;
        memcpy(&any, sel + i, 8);
        if (!any) {
            memcpy(p + i, c0 + a, 8);
            a += 8;
            continue;
        }
        for (size_t k = i; k < i + 8; k++) {
            uint8_t s = sel[k] != 0, mask = (uint8_t)-s;
            p[k] = (uint8_t)((c1[b] & mask) | (c0[a] & ~mask));
            a += !s;
            b += s;
        }
    }
    for (; i < m; i++) {
        uint8_t s = sel[i] != 0, mask = (uint8_t)-s;
        p[i] = (uint8_t)((c1[b] & mask) | (c0[a] & ~mask));
        a += !s;
        b += s;
    }
}

/* ---- streams that may be sparse ------------------------------------------ */

static size_t count_zero(const uint8_t *p, size_t n)
{
    size_t z = 0;
    for (size_t i = 0; i < n; i++)
        z += p[i] == 0;
    return z;
}

/* Sparse when at least 5/8 of the bytes are zero: below that the bitmap
 * costs about what it saves. */
static int put_plane(es_stream_ctx *sc, delta_work *w, uint8_t *dst, size_t cap,
                     size_t *pos, const uint8_t *p, size_t n)
{
    size_t nz, nbits = (n + 7) / 8;
    int rc;
    if (*pos >= cap)
        return ES_NOFIT;
    if (n < 64 || count_zero(p, n) * 8 < n * 5) {
        dst[(*pos)++] = S_PLAIN;
        return es_stream_put(sc, dst, cap, pos, p, n, ES_ENTROPY_SPLIT);
    }
    dst[(*pos)++] = S_SPARSE;
    memset(w->bits, 0, nbits);
    for (size_t i = 0; i < n; i++)
        w->bits[i / 8] |= (uint8_t)((p[i] != 0) << (i % 8));
    nz = partition(w->c0, w->vals, p, p, n);
    rc = es_stream_put(sc, dst, cap, pos, w->bits, nbits, ES_ENTROPY);
    return rc ? rc : es_stream_put(sc, dst, cap, pos, w->vals, nz, ES_ENTROPY);
}

/* Reads a stream of n bytes into p (which must not be w->bits or
 * w->vals). */
static int get_plane(es_stream_ctx *sc, delta_work *w, uint8_t *p, size_t n,
                     const uint8_t *src, size_t len, size_t *pos)
{
    size_t nbits = (n + 7) / 8, nz = 0;
    int rc;
    if (*pos >= len)
        return ELVES_E_CORRUPT;
    if (src[*pos] == S_PLAIN) {
        (*pos)++;
        return es_stream_get(sc, p, n, src, len, pos);
    }
    if (src[(*pos)++] != S_SPARSE)
        return ELVES_E_CORRUPT;
    rc = es_stream_get(sc, w->bits, nbits, src, len, pos);
    if (rc)
        return rc;
    if (n % 8 && (w->bits[nbits - 1] >> (n % 8)))
        return ELVES_E_CORRUPT; /* bits past the end */
    for (size_t i = 0; i < nbits; i++)
        nz += (size_t)__builtin_popcount(w->bits[i]);
    rc = es_stream_get(sc, w->vals, nz, src, len, pos);
    if (rc)
        return rc;
    w->vals[nz] = 0; /* read (and masked off) past the last one */
    for (size_t i = 0; i < nz; i++)
        if (w->vals[i] == 0)
            return ELVES_E_CORRUPT; /* a "non-zero" byte that is zero */
    for (size_t j = 0, k = 0; j < nbits; j++) {
        uint8_t bits = w->bits[j], *q = p + 8 * j;
        size_t e = n - 8 * j < 8 ? n - 8 * j : 8;
        if (!bits) {
            memset(q, 0, e);
            continue;
        }
        for (size_t i = 0; i < e; i++) {
            uint8_t bit = (uint8_t)((bits >> i) & 1);
            q[i] = (uint8_t)(w->vals[k] & (uint8_t)-bit);
            k += bit;
        }
    }
    return 0;
}

/* ---- the codec ----------------------------------------------------------- */

static int transform_for(elves_dtype dt)
{
    return es_float_dtype(dt) ? T_SUB : T_XOR;
}

static void forward(delta_work *w, int t, const uint8_t *a, const uint8_t *b,
                    size_t n, elves_dtype dt)
{
    if (t == T_XOR) {
        xor_bytes(w->x, a, b, n);
        if (w->np == 1)
            memcpy(w->plane[0], w->x, w->m);
        else
            es_float_split(w->plane, w->x, w->m, dt);
        return;
    }
    if (w->np == 2)
        sub_fwd2(w->x, a, b, w->m);
    else if (w->np == 4)
        sub_fwd4(w->x, a, b, w->m);
    else
        sub_fwd8(w->x, a, b, w->m);
    byte_split(w->plane, w->x, w->m, w->np);
    /* the tail is XORed in both transforms */
    xor_bytes(w->x + w->m * w->np, a + w->m * w->np, b + w->m * w->np,
              n % w->np);
}

/* dst holds the base bytes; the decoded planes are applied to them. */
static void inverse(uint8_t *dst, delta_work *w, int t, size_t n,
                    elves_dtype dt)
{
    size_t body = w->m * w->np;
    if (t == T_XOR) {
        if (w->np == 1)
            memcpy(w->x, w->plane[0], w->m);
        else
            es_float_merge(w->x, (const uint8_t *const *)w->plane, w->m, dt);
        xor_into(dst, w->x, body);
    } else if (w->np == 2) {
        merge_sub2(dst, w->plane[0], w->plane[1], w->m);
    } else {
        byte_merge(w->x, (const uint8_t *const *)w->plane, w->m, w->np);
        if (w->np == 4)
            sub_inv4(dst, w->x, w->m);
        else
            sub_inv8(dst, w->x, w->m);
    }
    xor_into(dst + body, w->x + body, n % w->np);
}

int es_delta_encode(es_stream_ctx *sc, size_t *out, uint8_t *dst, size_t cap,
                    const uint8_t *src, const uint8_t *base, size_t n,
                    elves_dtype dt)
{
    delta_work w;
    size_t pos = 0, n0;
    int t = transform_for(dt);
    int rc = work_alloc(sc, &w, n, es_delta_planes(dt));
    if (rc)
        return rc;
    if (cap < 2)
        return ES_NOFIT;
    forward(&w, t, src, base, n, dt);
    dst[pos++] = (uint8_t)t;
    dst[pos++] = (uint8_t)w.np;
    rc = put_plane(sc, &w, dst, cap, &pos, w.plane[0], w.m);
    for (unsigned k = 1; k < w.np && rc == 0; k++) {
        n0 = mark_moved(w.moved, w.plane[k - 1], w.m, k == 1);
        partition(w.c0, w.c1, w.plane[k], w.moved, w.m);
        /* The two streams go where the transformed bytes were (only their
         * tail, past 2m, is still needed): put_plane reuses c0, and the
         * plane itself is the next plane's context. */
        memcpy(w.x, w.c0, n0);
        memcpy(w.x + n0, w.c1, w.m - n0);
        rc = put_plane(sc, &w, dst, cap, &pos, w.x, n0);
        if (rc == 0)
            rc = put_plane(sc, &w, dst, cap, &pos, w.x + n0, w.m - n0);
    }
    if (rc == 0)
        rc = es_bytes_put(dst, cap, &pos, w.x + w.m * w.np, n % w.np);
    if (rc == 0)
        *out = pos;
    return rc;
}

int es_delta_decode(es_stream_ctx *sc, uint8_t *dst, size_t n,
                    const uint8_t *src, size_t len, elves_dtype dt)
{
    delta_work w;
    size_t pos = 0, n0;
    int rc, t;
    if (len < 2)
        return ELVES_E_CORRUPT;
    t = src[pos++];
    if (t != transform_for(dt))
        return ELVES_E_CORRUPT;
    rc = work_alloc(sc, &w, n, es_delta_planes(dt));
    if (rc)
        return rc;
    if (src[pos++] != w.np)
        return ELVES_E_CORRUPT;
    rc = get_plane(sc, &w, w.plane[0], w.m, src, len, &pos);
    for (unsigned k = 1; k < w.np && rc == 0; k++) {
        n0 = mark_moved(w.moved, w.plane[k - 1], w.m, k == 1);
        rc = get_plane(sc, &w, w.c0, n0, src, len, &pos);
        if (rc == 0)
            rc = get_plane(sc, &w, w.c1, w.m - n0, src, len, &pos);
        if (rc == 0)
            unpartition(w.plane[k], w.c0, w.c1, w.moved, w.m);
    }
    if (rc == 0)
        rc = es_bytes_get(w.x + w.m * w.np, n % w.np, src, len, &pos);
    if (rc == 0 && pos != len)
        rc = ELVES_E_CORRUPT; /* trailing bytes: not what the encoder wrote */
    if (rc == 0)
        inverse(dst, &w, t, n, dt);
    return rc;
}
