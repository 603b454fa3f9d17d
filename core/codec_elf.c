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
 * Payload:
 *   u32 k                     number of outliers
 *   3 streams of n bytes      word planes: sign << 7 | mant[22:16],
 *                             mant[15:8], mant[7:0] (outliers hold 0)
 *   if k > 0: 4 streams of k  byte planes of position deltas (first one
 *                             absolute; strictly increasing positions)
 *             4 streams of k  byte planes of outlier bits rotated left by 1
 *   raw_len % 4 tail bytes, as they are
 */
#include <stdlib.h>

#include "codecs.h"
#include "internal.h"

#define LANES 64
#define ONE_BITS 0x3f800000u
/* Bits of 1 - 2^-23: inliers have magnitude bits strictly below this. */
#define LIMIT_BITS 0x3f7ffffeu
#define NEG_ZERO 0x80000000u

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

/* The value the decoder gives for a word. */
static uint32_t elf_decode_word(uint32_t w)
{
    float d = f_of(ONE_BITS | (w & 0x7fffffu)) - 1.0f;
    return b_of(d) | (w >> 23) << 31;
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
        hi[i] = (uint8_t)(w >> 16);
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

/* Positions (as deltas) and exact bits of the k outliers. */
static int put_outliers(es_stream_ctx *sc, uint8_t *dst, size_t cap,
                        size_t *pos, const uint8_t *src, size_t n, size_t k)
{
    uint32_t *d = malloc(2 * k * sizeof *d), *val = d + k, prev = 0;
    size_t j = 0;
    int rc;
    if (!d)
        return ELVES_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        uint32_t bits = es_load32(src + 4 * i);
        if ((bits & 0x7fffffffu) < LIMIT_BITS && bits != NEG_ZERO)
            continue;
        d[j] = (uint32_t)i - prev;
        val[j++] = rotl32(bits);
        prev = (uint32_t)i;
    }
    rc = put_u32_planes(sc, dst, cap, pos, d, k);
    if (rc == 0)
        rc = put_u32_planes(sc, dst, cap, pos, val, k);
    free(d);
    return rc;
}

int es_elf_encode(es_stream_ctx *sc, size_t *out, uint8_t *dst, size_t cap,
                  uint8_t *decoded, const uint8_t *src, size_t len)
{
    size_t n = len / 4, k, pos = 4;
    uint8_t *buf, *pl[3];
    int bad = 0, rc = 0;
    if (n == 0 || cap < 4)
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
    es_store32(dst, (uint32_t)k);
    for (int b = 0; b < 3 && rc == 0; b++)
        rc = es_stream_put(sc, dst, cap, &pos, pl[b], n, ES_ENTROPY);
    if (rc == 0 && k > 0)
        rc = put_outliers(sc, dst, cap, &pos, src, n, k);
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
    for (size_t i = 0; i < m; i++) {
        uint32_t w = (uint32_t)hi[i] << 16 | (uint32_t)mid[i] << 8 | lo[i];
        es_store32(dst + 4 * i, elf_decode_word(w));
    }
}

ES_VECTORIZE static void unelf(uint8_t *dst, const uint8_t *const *pl, size_t n)
{
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        unelf_group(dst + 4 * i, pl[0] + i, pl[1] + i, pl[2] + i, LANES);
    unelf_group(dst + 4 * i, pl[0] + i, pl[1] + i, pl[2] + i, n - i);
}

/* Reads the outlier lists and writes the exact values in place. */
static int patch_outliers(es_stream_ctx *sc, uint8_t *dst, size_t n, size_t k,
                          const uint8_t *src, size_t len, size_t *pos)
{
    uint32_t *d = malloc(2 * k * sizeof *d), *val = d + k;
    uint64_t at = 0;
    int rc;
    if (!d)
        return ELVES_E_NOMEM;
    rc = get_u32_planes(sc, d, k, src, len, pos);
    if (rc == 0)
        rc = get_u32_planes(sc, val, k, src, len, pos);
    for (size_t j = 0; rc == 0 && j < k; j++) {
        if (j > 0 && d[j] == 0)
            rc = ELVES_E_CORRUPT; /* positions must strictly increase */
        at += d[j];
        if (at >= n)
            rc = ELVES_E_CORRUPT;
        if (rc == 0)
            es_store32(dst + 4 * at, rotr32(val[j]));
    }
    free(d);
    return rc;
}

int es_elf_decode(es_stream_ctx *sc, uint8_t *dst, size_t len,
                  const uint8_t *src, size_t slen)
{
    size_t n = len / 4, k, pos = 4;
    const uint8_t *pl[3];
    uint8_t *buf;
    int rc = 0;
    if (slen < 4)
        return ELVES_E_CORRUPT;
    k = es_load32(src);
    if (k > n)
        return ELVES_E_CORRUPT;
    buf = es_scratch(sc, ES_SCRATCH_CODEC, 3 * n);
    if (!buf)
        return ELVES_E_NOMEM;
    for (int b = 0; b < 3 && rc == 0; b++)
        rc = es_stream_view(sc, &pl[b], buf + b * n, n, src, slen, &pos);
    if (rc == 0)
        unelf(dst, pl, n);
    if (rc == 0 && k > 0)
        rc = patch_outliers(sc, dst, n, k, src, slen, &pos);
    if (rc == 0)
        rc = es_bytes_get(dst + 4 * n, len % 4, src, slen, &pos);
    if (rc == 0 && pos != slen)
        rc = ELVES_E_CORRUPT;
    return rc;
}
