/*
 * codec_elf.c - ELF, exponent-less floats (F32 only, lossy, |err| <= 2^-24).
 *
 * A value p with |p| < 1 - 2^-23 (and p not -0.0) becomes a 24-bit word:
 * its sign and the 23 mantissa bits of (float)(|p| + 1), whose exponent is
 * always 127 and is dropped.  Decoding gives sign * ((1.m) - 1), exact in
 * float arithmetic, so the only error is the rounding of |p| + 1: at most
 * half an ulp of [1, 2), 2^-24.  Every other value (|p| >= 1 - 2^-23, NaN,
 * Inf, -0.0) is an outlier, kept exact with its position.
 *
 * Payload (format 3; format 1 had no format byte and kept outliers as
 * zero words in the planes, format 2 had the sign at the top of the first
 * plane):
 *   u8 3                      payload format (any other: corrupt)
 *   LEB128 k                  number of outliers
 *   3 streams of n - k bytes  planes of the inlier words, in order:
 *                             mant[22:16] << 1 | sign, mant[15:8], mant[7:0]
 *   if k > 0: LEB128 d        bytes of the position stream
 *             stream of d     positions as LEB128 gaps: the first position,
 *                             then next - previous - 1
 *             4 streams of k  byte planes of outlier bits rotated left by 1
 *   raw_len % 4 tail bytes, as they are
 * The inlier planes leave outliers out (the bound counts inliers only) and
 * gaps take a byte each where outliers are close: the small bias and norm
 * tensors are where outliers gather.
 */
#include <stdlib.h>

#include "codecs.h"
#include "internal.h"

#define LANES 64
#define ONE_BITS 0x3f800000u
/* Bits of 1 - 2^-23: inliers have magnitude bits strictly below this. */
#define LIMIT_BITS 0x3f7ffffeu
#define NEG_ZERO 0x80000000u
/* The payload format byte (see above). */
#define ELF_FORMAT 3u

/* Bit casts (unions, which the vectoriser handles; memcpy it does not). */
typedef union {
    uint32_t u;
    float f;
} pun;

static float f_of(uint32_t b)
{
    pun x = {.u = b};
    return x.f;
}

static uint32_t b_of(float f)
{
    pun x = {.f = f};
    return x.u;
}

/*
 * One group of m values: word planes, the decoded values, the number of
 * outliers (returned) and, in *bad, whether an inlier broke the bound.
 * Written branch-free over fixed groups so that the compiler vectorises.
 */
ES_VECTORIZE static size_t
elf_group(uint8_t *restrict hi, uint8_t *restrict mid, uint8_t *restrict lo,
          uint8_t *restrict dec, const uint8_t *restrict src, size_t m,
          int *bad)
{
    uint32_t outliers = 0, worse = 0;
    for (size_t i = 0; i < m; i++) {
        uint32_t bits = es_load32(src + 4 * i), mag = bits & 0x7fffffffu;
        /* All-ones when p is an inlier; masks instead of branches. */
        uint32_t in = 0u - (uint32_t)((mag < LIMIT_BITS) & (bits != NEG_ZERO));
        uint32_t mant = b_of(f_of(mag) + 1.0f) & 0x7fffffu;
        uint32_t w = ((bits >> 31) << 23 | mant) & in;
        float d = f_of(ONE_BITS | mant) - 1.0f;
        /* d - |p| is exact for inliers (Sterbenz); compare its magnitude
         * bits with those of 2^-24. */
        uint32_t err = b_of(d - f_of(mag)) & 0x7fffffffu;
        worse |= (uint32_t)(err > 0x33800000u) & in;
        /* Sign at the bottom: small weights of both signs then take
         * the first symbols, and the Huffman table that lists weights
         * from symbol 0 up ends sooner. */
        hi[i] = (uint8_t)((w >> 15 & 0xfeu) | w >> 23);
        mid[i] = (uint8_t)(w >> 8);
        lo[i] = (uint8_t)w;
        es_store32(dec + 4 * i,
                   ((b_of(d) | (bits & NEG_ZERO)) & in) | (bits & ~in));
        outliers += ~in & 1u;
    }
    *bad |= worse != 0;
    return outliers;
}

ES_VECTORIZE static size_t elf_transform(uint8_t *const *pl, uint8_t *dec,
                                         const uint8_t *src, size_t n, int *bad)
{
    size_t i = 0, k = 0;
    for (; i + LANES <= n; i += LANES)
        k += elf_group(pl[0] + i, pl[1] + i, pl[2] + i, dec + 4 * i,
                       src + 4 * i, LANES, bad);
    k += elf_group(pl[0] + i, pl[1] + i, pl[2] + i, dec + 4 * i, src + 4 * i,
                   n - i, bad);
    return k;
}

/* Writes k 32-bit values as four byte-plane streams. */
static int put_u32_planes(es_stream_ctx *sc, uint8_t *dst, size_t cap,
                          size_t *pos, const uint32_t *v, size_t k)
{
    uint8_t *buf = malloc(4 * k);
    int rc = 0;
    if (!buf)
        return ELVES_E_NOMEM;
    for (size_t i = 0; i < k; i++)
        for (int b = 0; b < 4; b++)
            buf[b * k + i] = (uint8_t)(v[i] >> (24 - 8 * b));
    for (int b = 0; b < 4 && rc == 0; b++)
        rc = es_stream_put(sc, dst, cap, pos, buf + b * k, k, ES_ENTROPY);
    free(buf);
    return rc;
}

static int get_u32_planes(es_stream_ctx *sc, uint32_t *v, size_t k,
                          const uint8_t *src, size_t len, size_t *pos)
{
    uint8_t *buf = malloc(4 * k);
    int rc = 0;
    if (!buf)
        return ELVES_E_NOMEM;
    for (int b = 0; b < 4 && rc == 0; b++)
        rc = es_stream_get(sc, buf + b * k, k, src, len, pos);
    for (size_t i = 0; rc == 0 && i < k; i++)
        v[i] = (uint32_t)buf[i] << 24 | (uint32_t)buf[k + i] << 16 |
               (uint32_t)buf[2 * k + i] << 8 | buf[3 * k + i];
    free(buf);
    return rc;
}

static uint32_t rotl32(uint32_t x)
{
    return x << 1 | x >> 31;
}

static uint32_t rotr32(uint32_t x)
{
    return x >> 1 | x << 31;
}

static int is_outlier(uint32_t bits)
{
    return (bits & 0x7fffffffu) >= LIMIT_BITS || bits == NEG_ZERO;
}

/* The positions of the k outliers, in order. */
static void find_outliers(uint32_t *at, const uint8_t *src, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; i < n; i++)
        if (is_outlier(es_load32(src + 4 * i)))
            at[j++] = (uint32_t)i;
}

/* Positions (as LEB128 gaps) and exact bits of the k outliers. */
static int put_outliers(es_stream_ctx *sc, uint8_t *dst, size_t cap,
                        size_t *pos, const uint8_t *src, const uint32_t *at,
                        size_t k)
{
    /* A gap takes at most 4 LEB128 bytes (n < 2^24). */
    uint32_t *val = malloc(k * sizeof *val + 4 * k);
    uint8_t *gaps = (uint8_t *)(val + k);
    size_t glen = 0, next = 0;
    int rc;
    if (!val)
        return ELVES_E_NOMEM;
    for (size_t j = 0; j < k; j++) {
        es_varint_put(gaps, 4 * k, &glen, at[j] - next);
        next = (size_t)at[j] + 1;
        val[j] = rotl32(es_load32(src + 4 * (size_t)at[j]));
    }
    rc = es_varint_put(dst, cap, pos, glen);
    if (rc == 0)
        rc = es_stream_put(sc, dst, cap, pos, gaps, glen, ES_ENTROPY);
    if (rc == 0)
        rc = put_u32_planes(sc, dst, cap, pos, val, k);
    free(val);
    return rc;
}

/* Drops the outliers' (zero) words from the planes, run by run: n - k
 * inliers remain. */
static void compact_planes(uint8_t *const *pl, const uint32_t *at, size_t k,
                           size_t n)
{
    size_t j = at[0];
    for (size_t t = 0; t < k; t++) {
        size_t from = (size_t)at[t] + 1, end = t + 1 < k ? at[t + 1] : n;
        for (int b = 0; b < 3; b++)
            memmove(pl[b] + j, pl[b] + from, end - from);
        j += end - from;
    }
}

/* Outliers apart from the planes (see the payload above). */
static int put_apart(es_stream_ctx *sc, uint8_t *dst, size_t cap, size_t *pos,
                     uint8_t *const *pl, const uint8_t *src, size_t n, size_t k)
{
    uint32_t *at = malloc(k * sizeof *at);
    int rc = 0;
    if (!at)
        return ELVES_E_NOMEM;
    find_outliers(at, src, n);
    compact_planes(pl, at, k, n);
    for (int b = 0; b < 3 && rc == 0; b++)
        rc = es_stream_put(sc, dst, cap, pos, pl[b], n - k, ES_ENTROPY);
    if (rc == 0)
        rc = put_outliers(sc, dst, cap, pos, src, at, k);
    free(at);
    return rc;
}

int es_elf_encode(es_stream_ctx *sc, size_t *out, uint8_t *dst, size_t cap,
                  uint8_t *decoded, const uint8_t *src, size_t len)
{
    size_t n = len / 4, k, pos = 1;
    uint8_t *buf, *pl[3];
    int bad = 0, rc = 0;
    if (n == 0 || cap < 2)
        return ES_NOFIT;
    buf = es_scratch(sc, ES_SCRATCH_CODEC, 3 * n);
    if (!buf)
        return ELVES_E_NOMEM;
    for (int b = 0; b < 3; b++)
        pl[b] = buf + b * n;
    k = elf_transform(pl, decoded, src, n, &bad);
    memcpy(decoded + 4 * n, src + 4 * n, len % 4);
    if (bad)
        return ELVES_E_BOUND;
    dst[0] = ELF_FORMAT;
    rc = es_varint_put(dst, cap, &pos, k);
    for (int b = 0; b < 3 && rc == 0 && k == 0; b++)
        rc = es_stream_put(sc, dst, cap, &pos, pl[b], n, ES_ENTROPY);
    if (rc == 0 && k > 0)
        rc = put_apart(sc, dst, cap, &pos, pl, src, n, k);
    if (rc == 0)
        rc = es_bytes_put(dst, cap, &pos, src + 4 * n, len % 4);
    if (rc == 0)
        *out = pos;
    return rc;
}

ES_VECTORIZE static void unelf_group(uint8_t *restrict dst,
                                     const uint8_t *restrict hi,
                                     const uint8_t *restrict mid,
                                     const uint8_t *restrict lo, size_t m)
{
    /* The value for a word: sign * ((1.mant) - 1), exact in floats. */
    for (size_t i = 0; i < m; i++) {
        uint32_t h = hi[i];
        uint32_t mant = (h & 0xfeu) << 15 | (uint32_t)mid[i] << 8 | lo[i];
        float d = f_of(ONE_BITS | mant) - 1.0f;
        es_store32(dst + 4 * i, b_of(d) | h << 31);
    }
}

/* Decodes the inlier words pl[.][off..off+n) into dst[0..n). */
ES_VECTORIZE static void unelf(uint8_t *dst, const uint8_t *const *pl,
                               size_t off, size_t n)
{
    const uint8_t *hi = pl[0] + off, *mid = pl[1] + off, *lo = pl[2] + off;
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        unelf_group(dst + 4 * i, hi + i, mid + i, lo + i, LANES);
    unelf_group(dst + 4 * i, hi + i, mid + i, lo + i, n - i);
}

/*
 * Writes the n values: the runs of inliers between the outliers decoded
 * in place (no second pass over the block), the outliers exact.  Every
 * gap is checked against what is left of the block and of the inliers.
 */
static int place(uint8_t *dst, size_t n, size_t k, const uint8_t *const *pl,
                 const uint8_t *gaps, size_t glen, const uint32_t *val)
{
    size_t from = 0, at = 0, gpos = 0;
    for (size_t j = 0; j < k; j++) {
        size_t gap;
        /* A run must end inside the block and within the n - k inliers
         * (the planes hold no more). */
        if (es_varint_get(&gap, gaps, glen, &gpos) != 0 || gap >= n - at ||
            gap > n - k - from)
            return ELVES_E_CORRUPT;
        unelf(dst + 4 * at, pl, from, gap);
        from += gap;
        at += gap;
        es_store32(dst + 4 * at, rotr32(val[j]));
        at++;
    }
    /* at - from == k: the last run fills the block with the inliers left. */
    unelf(dst + 4 * at, pl, from, n - at);
    return gpos == glen ? 0 : ELVES_E_CORRUPT;
}

/* Reads the outlier lists and writes every value. */
static int place_outliers(es_stream_ctx *sc, uint8_t *dst, size_t n, size_t k,
                          const uint8_t *const *pl, const uint8_t *src,
                          size_t len, size_t *pos)
{
    size_t glen;
    uint32_t *val;
    uint8_t *gaps;
    int rc = es_varint_get(&glen, src, len, pos);
    if (rc != 0 || glen < k || glen > 4 * k)
        return ELVES_E_CORRUPT;
    val = malloc(k * sizeof *val + glen);
    if (!val)
        return ELVES_E_NOMEM;
    gaps = (uint8_t *)(val + k);
    rc = es_stream_get(sc, gaps, glen, src, len, pos);
    if (rc == 0)
        rc = get_u32_planes(sc, val, k, src, len, pos);
    if (rc == 0)
        rc = place(dst, n, k, pl, gaps, glen, val);
    free(val);
    return rc;
}

int es_elf_decode(es_stream_ctx *sc, uint8_t *dst, size_t len,
                  const uint8_t *src, size_t slen)
{
    size_t n = len / 4, k, m, pos = 1;
    const uint8_t *pl[3];
    uint8_t *buf;
    int rc = 0;
    if (slen < 2 || src[0] != ELF_FORMAT)
        return ELVES_E_CORRUPT;
    if (es_varint_get(&k, src, slen, &pos) != 0 || k > n)
        return ELVES_E_CORRUPT;
    m = n - k;
    buf = es_scratch(sc, ES_SCRATCH_CODEC, 3 * m);
    if (!buf)
        return ELVES_E_NOMEM;
    for (int b = 0; b < 3 && rc == 0; b++)
        rc = es_stream_view(sc, &pl[b], buf + b * m, m, src, slen, &pos);
    if (rc == 0 && k == 0)
        unelf(dst, pl, 0, n);
    if (rc == 0 && k > 0)
        rc = place_outliers(sc, dst, n, k, pl, src, slen, &pos);
    if (rc == 0)
        rc = es_bytes_get(dst + 4 * n, len % 4, src, slen, &pos);
    if (rc == 0 && pos != slen)
        rc = ELVES_E_CORRUPT;
    return rc;
}
