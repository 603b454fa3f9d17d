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
 * non-zero; returns how many are still 0.  Counted in 32-bit sums of
 * runs that cannot overflow them: a size_t sum made gcc widen every byte
 * to 64 bits, and this loop was a quarter of delta decoding. */
ES_CLONES ES_VECTORIZE static size_t mark_moved(uint8_t *restrict moved,
                                                const uint8_t *restrict p,
                                                size_t m, int first)
{
    size_t marked = 0;
    for (size_t i = 0; i < m;) {
        size_t end = m - i > ((size_t)1 << 20) ? i + ((size_t)1 << 20) : m;
        uint32_t run = 0;
        if (first)
            for (; i < end; i++) {
                uint8_t v = p[i] != 0;
                moved[i] = v;
                run += v;
            }
        else
            for (; i < end; i++) {
                uint8_t v = (uint8_t)(moved[i] | (p[i] != 0));
                moved[i] = v;
                run += v;
            }
        marked += run;
    }
    return m - marked;
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

/* ---- streams that may be sparse ------------------------------------------ */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) &&     \
    !defined(ES_NO_CLONES)
#define SPREAD_SSSE3 1
#else
#define SPREAD_SSSE3 0
#endif

/* spread[b][i]: for bit i of a bitmap byte b, the rank of that bit among
 * b's set bits (where the byte's value sits in the run of non-zero values)
 * if it is set, else 0x80 (pshufb's "zero"). */
#define SP_BIT(b, i) (((b) >> (i)) & 1)
#define SP_RANK(b, i)                                                          \
    ((i > 0 ? SP_BIT(b, 0) : 0) + (i > 1 ? SP_BIT(b, 1) : 0) +                 \
     (i > 2 ? SP_BIT(b, 2) : 0) + (i > 3 ? SP_BIT(b, 3) : 0) +                 \
     (i > 4 ? SP_BIT(b, 4) : 0) + (i > 5 ? SP_BIT(b, 5) : 0) +                 \
     (i > 6 ? SP_BIT(b, 6) : 0))
#define SP_AT(b, i) (SP_BIT(b, i) ? SP_RANK(b, i) : 0x80)
#define SP1(b)                                                                 \
    {SP_AT(b, 0), SP_AT(b, 1), SP_AT(b, 2), SP_AT(b, 3),                       \
     SP_AT(b, 4), SP_AT(b, 5), SP_AT(b, 6), SP_AT(b, 7)}
#define SP4(b) SP1(b), SP1(b + 1), SP1(b + 2), SP1(b + 3)
#define SP16(b) SP4(b), SP4(b + 4), SP4(b + 8), SP4(b + 12)
#define SP64(b) SP16(b), SP16(b + 16), SP16(b + 32), SP16(b + 48)
static const uint8_t spread[256][8] = {SP64(0), SP64(64), SP64(128),
                                       SP64(192)};
/* pop8[b]: b's set bits (no POPCNT in the x86-64 baseline: gcc made
 * __builtin_popcount a libgcc call). */
#define PO1(b) (SP_RANK(b, 7) + SP_BIT(b, 7))
#define PO4(b) PO1(b), PO1(b + 1), PO1(b + 2), PO1(b + 3)
#define PO16(b) PO4(b), PO4(b + 4), PO4(b + 8), PO4(b + 12)
#define PO64(b) PO16(b), PO16(b + 16), PO16(b + 32), PO16(b + 48)
static const uint8_t pop8[256] = {PO64(0), PO64(64), PO64(128), PO64(192)};

/* The first groups x 8 bytes of a sparse stream: byte i of group j is the
 * next of vals where bit i of bits[j] is set, else 0.  Returns how many of
 * vals it took.  vals must be readable 8 bytes past the last one taken. */
static size_t scatter_scalar(uint8_t *restrict p, const uint8_t *restrict bits,
                             const uint8_t *restrict vals, size_t groups)
{
    size_t k = 0;
    for (size_t j = 0; j < groups; j++) {
        const uint8_t *sp = spread[bits[j]];
        uint8_t *q = p + 8 * j;
        for (size_t i = 0; i < 8; i++)
            q[i] = (uint8_t)(vals[k + (sp[i] & 7)] & (uint8_t) - !(sp[i] >> 7));
        k += pop8[bits[j]];
    }
    return k;
}

#if SPREAD_SSSE3
#include <immintrin.h>
/* The same with one pshufb a group; measured on the BF16 fine-tune of
 * delta_bench.sh (elves bench --base): see the commit that added it. */
__attribute__((target("ssse3"))) static size_t
scatter_ssse3(uint8_t *restrict p, const uint8_t *restrict bits,
              const uint8_t *restrict vals, size_t groups)
{
    size_t k = 0;
    for (size_t j = 0; j < groups; j++) {
        __m128i v = _mm_loadl_epi64((const __m128i *)(const void *)(vals + k));
        __m128i sh =
            _mm_loadl_epi64((const __m128i *)(const void *)spread[bits[j]]);
        _mm_storel_epi64((__m128i *)(void *)(p + 8 * j),
                         _mm_shuffle_epi8(v, sh));
        k += pop8[bits[j]];
    }
    return k;
}

static size_t scatter(uint8_t *p, const uint8_t *bits, const uint8_t *vals,
                      size_t groups)
{
    return __builtin_cpu_supports("ssse3")
               ? scatter_ssse3(p, bits, vals, groups)
               : scatter_scalar(p, bits, vals, groups);
}
#else
#define scatter scatter_scalar
#endif

/* The inverse of partition.  Groups of 8 where nothing is selected (most
 * of them, below the top plane of a fine-tune) are copied 8 at a time; the
 * others spread c0 and c1 by the group's bitmap (SEL_BITS) as a sparse
 * stream is spread. */
#define SEL_BITS(x) ((uint8_t)(((x)*0x0102040810204080ull) >> 56))

static size_t unpartition_scalar(uint8_t *restrict p,
                                 const uint8_t *restrict c0,
                                 const uint8_t *restrict c1,
                                 const uint8_t *restrict sel, size_t groups,
                                 size_t *b_out)
{
    size_t a = 0, b = 0;
    for (size_t j = 0; j < groups; j++) {
        uint64_t x;
        memcpy(&x, sel + 8 * j, 8);
        if (!x) {
            memcpy(p + 8 * j, c0 + a, 8);
            a += 8;
            continue;
        }
        uint8_t bits = SEL_BITS(x);
        const uint8_t *s1 = spread[bits], *s0 = spread[(uint8_t)~bits];
        for (size_t i = 0; i < 8; i++) {
            uint8_t mask = (uint8_t) - !(s1[i] >> 7);
            p[8 * j + i] = (uint8_t)((c1[b + (s1[i] & 7)] & mask) |
                                     (c0[a + (s0[i] & 7)] & ~mask));
        }
        a += pop8[(uint8_t)~bits];
        b += pop8[bits];
    }
    *b_out = b;
    return a;
}

#if SPREAD_SSSE3
__attribute__((target("ssse3"))) static size_t
unpartition_ssse3(uint8_t *restrict p, const uint8_t *restrict c0,
                  const uint8_t *restrict c1, const uint8_t *restrict sel,
                  size_t groups, size_t *b_out)
{
    size_t a = 0, b = 0;
    for (size_t j = 0; j < groups; j++) {
        uint64_t x;
        memcpy(&x, sel + 8 * j, 8);
        __m128i v0 = _mm_loadl_epi64((const __m128i *)(const void *)(c0 + a));
        if (!x) {
            _mm_storel_epi64((__m128i *)(void *)(p + 8 * j), v0);
            a += 8;
            continue;
        }
        uint8_t bits = SEL_BITS(x), un = (uint8_t)~bits;
        __m128i v1 = _mm_loadl_epi64((const __m128i *)(const void *)(c1 + b));
        __m128i s0 = _mm_loadl_epi64((const __m128i *)(const void *)spread[un]);
        __m128i s1 =
            _mm_loadl_epi64((const __m128i *)(const void *)spread[bits]);
        _mm_storel_epi64(
            (__m128i *)(void *)(p + 8 * j),
            _mm_or_si128(_mm_shuffle_epi8(v0, s0), _mm_shuffle_epi8(v1, s1)));
        a += pop8[un];
        b += pop8[bits];
    }
    *b_out = b;
    return a;
}
#endif

/* c0 and c1 must be readable 8 bytes past their ends (the scratch that
 * follows them). */
static void unpartition(uint8_t *restrict p, const uint8_t *restrict c0,
                        const uint8_t *restrict c1,
                        const uint8_t *restrict sel, size_t m)
{
    size_t b = 0, i = m / 8 * 8;
#if SPREAD_SSSE3
    size_t a = __builtin_cpu_supports("ssse3")
                   ? unpartition_ssse3(p, c0, c1, sel, m / 8, &b)
                   : unpartition_scalar(p, c0, c1, sel, m / 8, &b);
#else
    size_t a = unpartition_scalar(p, c0, c1, sel, m / 8, &b);
#endif
    for (; i < m; i++) {
        uint8_t s = sel[i] != 0, mask = (uint8_t)-s;
        p[i] = (uint8_t)((c1[b] & mask) | (c0[a] & ~mask));
        a += !s;
        b += s;
    }
}

/* 32-bit sums of runs, as in mark_moved. */
ES_CLONES ES_VECTORIZE static size_t count_zero(const uint8_t *p, size_t n)
{
    size_t z = 0;
    for (size_t i = 0; i < n;) {
        size_t end = n - i > ((size_t)1 << 20) ? i + ((size_t)1 << 20) : n;
        uint32_t run = 0;
        for (; i < end; i++)
            run += p[i] == 0;
        z += run;
    }
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
        nz += pop8[w->bits[i]];
    rc = es_stream_get(sc, w->vals, nz, src, len, pos);
    if (rc)
        return rc;
    w->vals[nz] = 0; /* read (and masked off) past the last one */
    if (count_zero(w->vals, nz))
        return ELVES_E_CORRUPT; /* a "non-zero" byte that is zero */
    /* whole groups of 8 at once (vals is followed by the rest of the
     * scratch: readable past its end), the last part group alone */
    size_t k = scatter(p, w->bits, w->vals, n / 8);
    for (size_t i = n / 8 * 8; i < n; i++) {
        uint8_t bit = (uint8_t)((w->bits[i / 8] >> (i % 8)) & 1);
        p[i] = (uint8_t)(w->vals[k] & (uint8_t)-bit);
        k += bit;
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
