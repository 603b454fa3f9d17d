/*
 * codec_float.c - lossless float coding for F16, BF16, F32 and F64.
 *
 * Trained weights have exponents that carry about 3 bits of information
 * and mantissas that are close to random.  Each element is split into byte
 * planes so that the sign/exponent information lands in one plane and the
 * mantissa in the others; every plane is then entropy-coded on its own (or
 * stored raw when that does not pay, see stream.c):
 *   BF16  A = exponent (8 bits)        B = sign << 7 | mantissa (7 bits)
 *   F16   A = high byte (sign, exponent, top 2 mantissa bits)  B = low byte
 *   F32   x rotated left by 1 bit, so A = exponent, B = top 7 mantissa bits
 *         << 1 | sign, C and D = the lower mantissa bytes
 *   F64   x rotated left by 1 bit, then its 8 bytes from the top: the 11
 *         exponent bits span A and B
 * Payload: the planes in that order (each a stream), then the raw_len %
 * element-size tail bytes as they are.  Bit-exact for every input.
 *
 * The split and merge loops work on fixed groups of LANES elements with
 * restrict pointers, and carry ES_VECTORIZE, so that gcc -O2 and clang
 * vectorise them (gcc's default -O2 cost model refuses the alias checks
 * that inlining the groups brings back).
 */
#include "codecs.h"
#include "internal.h"

#define LANES 64
#define MAX_PLANES 8

static uint32_t rotl32(uint32_t x)
{
    return x << 1 | x >> 31;
}

static uint32_t rotr32(uint32_t x)
{
    return x >> 1 | x << 31;
}

static uint64_t rotl64(uint64_t x)
{
    return x << 1 | x >> 63;
}

static uint64_t rotr64(uint64_t x)
{
    return x >> 1 | x << 63;
}

/* ---- BF16 --------------------------------------------------------------- */

ES_VECTORIZE static void split_bf16_group(uint8_t *restrict a,
                                          uint8_t *restrict b,
                                          const uint8_t *restrict s, size_t m)
{
    for (size_t i = 0; i < m; i++) {
        uint16_t x = es_load16(s + 2 * i);
        a[i] = (uint8_t)(x >> 7);
        b[i] = (uint8_t)(((x >> 8) & 0x80) | (x & 0x7f));
    }
}

ES_VECTORIZE static void merge_bf16_group(uint8_t *restrict d,
                                          const uint8_t *restrict a,
                                          const uint8_t *restrict b, size_t m)
{
    for (size_t i = 0; i < m; i++) {
        uint16_t x = (uint16_t)((b[i] & 0x80) << 8 | a[i] << 7 | (b[i] & 0x7f));
        es_store16(d + 2 * i, x);
    }
}

ES_CLONES ES_VECTORIZE static void split_bf16(uint8_t *const *p,
                                              const uint8_t *src, size_t n)
{
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        split_bf16_group(p[0] + i, p[1] + i, src + 2 * i, LANES);
    split_bf16_group(p[0] + i, p[1] + i, src + 2 * i, n - i);
}

ES_CLONES ES_VECTORIZE static void merge_bf16(uint8_t *dst,
                                              const uint8_t *const *p, size_t n)
{
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        merge_bf16_group(dst + 2 * i, p[0] + i, p[1] + i, LANES);
    merge_bf16_group(dst + 2 * i, p[0] + i, p[1] + i, n - i);
}

/* ---- F16: plain byte planes ---------------------------------------------- */

ES_VECTORIZE static void split_f16_group(uint8_t *restrict a,
                                         uint8_t *restrict b,
                                         const uint8_t *restrict s, size_t m)
{
    for (size_t i = 0; i < m; i++) {
        uint16_t x = es_load16(s + 2 * i);
        a[i] = (uint8_t)(x >> 8);
        b[i] = (uint8_t)x;
    }
}

ES_VECTORIZE static void merge_f16_group(uint8_t *restrict d,
                                         const uint8_t *restrict a,
                                         const uint8_t *restrict b, size_t m)
{
    for (size_t i = 0; i < m; i++)
        es_store16(d + 2 * i, (uint16_t)(a[i] << 8 | b[i]));
}

ES_CLONES ES_VECTORIZE static void split_f16(uint8_t *const *p,
                                             const uint8_t *src, size_t n)
{
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        split_f16_group(p[0] + i, p[1] + i, src + 2 * i, LANES);
    split_f16_group(p[0] + i, p[1] + i, src + 2 * i, n - i);
}

ES_CLONES ES_VECTORIZE static void merge_f16(uint8_t *dst,
                                             const uint8_t *const *p, size_t n)
{
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        merge_f16_group(dst + 2 * i, p[0] + i, p[1] + i, LANES);
    merge_f16_group(dst + 2 * i, p[0] + i, p[1] + i, n - i);
}

/* ---- F32 ------------------------------------------------------------------
 */

ES_VECTORIZE static void
split_f32_group(uint8_t *restrict a, uint8_t *restrict b, uint8_t *restrict c,
                uint8_t *restrict d, const uint8_t *restrict s, size_t m)
{
    for (size_t i = 0; i < m; i++) {
        uint32_t x = rotl32(es_load32(s + 4 * i));
        a[i] = (uint8_t)(x >> 24);
        b[i] = (uint8_t)(x >> 16);
        c[i] = (uint8_t)(x >> 8);
        d[i] = (uint8_t)x;
    }
}

ES_VECTORIZE static void merge_f32_group(uint8_t *restrict dst,
                                         const uint8_t *restrict a,
                                         const uint8_t *restrict b,
                                         const uint8_t *restrict c,
                                         const uint8_t *restrict d, size_t m)
{
    for (size_t i = 0; i < m; i++) {
        uint32_t x = (uint32_t)a[i] << 24 | (uint32_t)b[i] << 16 |
                     (uint32_t)c[i] << 8 | d[i];
        es_store32(dst + 4 * i, rotr32(x));
    }
}

ES_CLONES ES_VECTORIZE static void split_f32(uint8_t *const *p,
                                             const uint8_t *src, size_t n)
{
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        split_f32_group(p[0] + i, p[1] + i, p[2] + i, p[3] + i, src + 4 * i,
                        LANES);
    split_f32_group(p[0] + i, p[1] + i, p[2] + i, p[3] + i, src + 4 * i, n - i);
}

ES_CLONES ES_VECTORIZE static void merge_f32(uint8_t *dst,
                                             const uint8_t *const *p, size_t n)
{
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        merge_f32_group(dst + 4 * i, p[0] + i, p[1] + i, p[2] + i, p[3] + i,
                        LANES);
    merge_f32_group(dst + 4 * i, p[0] + i, p[1] + i, p[2] + i, p[3] + i, n - i);
}

/* ---- F64: rare in checkpoints, kept simple --------------------------------
 */

static void split_f64(uint8_t *const *p, const uint8_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t x = rotl64(es_load64(src + 8 * i));
        for (int k = 0; k < 8; k++)
            p[k][i] = (uint8_t)(x >> (56 - 8 * k));
    }
}

static void merge_f64(uint8_t *dst, const uint8_t *const *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t x = 0;
        for (int k = 0; k < 8; k++)
            x |= (uint64_t)p[k][i] << (56 - 8 * k);
        es_store64(dst + 8 * i, rotr64(x));
    }
}

/* ---- the codec ------------------------------------------------------------
 */

static unsigned float_size(elves_dtype dt)
{
    return elves_dtype_bits(dt) / 8;
}

/* Points p[0..esz) at consecutive n-byte planes of the codec scratch. */
static uint8_t *planes_alloc(es_stream_ctx *sc, uint8_t **p, unsigned esz,
                             size_t n)
{
    uint8_t *buf = es_scratch(sc, ES_SCRATCH_CODEC, n * esz);
    for (unsigned k = 0; buf && k < esz; k++)
        p[k] = buf + k * n;
    return buf;
}

void es_float_split(uint8_t *const *p, const uint8_t *src, size_t n,
                    elves_dtype dt)
{
    switch (dt) {
    case ELVES_DT_BF16:
        split_bf16(p, src, n);
        break;
    case ELVES_DT_F16:
        split_f16(p, src, n);
        break;
    case ELVES_DT_F32:
        split_f32(p, src, n);
        break;
    default:
        split_f64(p, src, n);
        break;
    }
}

void es_float_merge(uint8_t *dst, const uint8_t *const *p, size_t n,
                    elves_dtype dt)
{
    switch (dt) {
    case ELVES_DT_BF16:
        merge_bf16(dst, p, n);
        break;
    case ELVES_DT_F16:
        merge_f16(dst, p, n);
        break;
    case ELVES_DT_F32:
        merge_f32(dst, p, n);
        break;
    default:
        merge_f64(dst, p, n);
        break;
    }
}

int es_float_encode(es_stream_ctx *sc, size_t *out, uint8_t *dst, size_t cap,
                    const uint8_t *src, size_t len, elves_dtype dt)
{
    unsigned esz = float_size(dt);
    size_t n = len / esz, pos = 0;
    uint8_t *p[MAX_PLANES] = {NULL}, *buf;
    int rc = 0;
    if (!es_float_dtype(dt) || n == 0)
        return ES_NOFIT;
    buf = planes_alloc(sc, p, esz, n);
    if (!buf)
        return ELVES_E_NOMEM;
    es_float_split(p, src, n, dt);
    for (unsigned k = 0; k < esz && rc == 0; k++)
        rc = es_stream_put(sc, dst, cap, &pos, p[k], n,
                           k == 0 ? ES_ENTROPY_SPLIT : ES_ENTROPY);
    if (rc == 0)
        rc = es_bytes_put(dst, cap, &pos, src + n * esz, len % esz);
    if (rc == 0)
        *out = pos;
    return rc;
}

int es_float_decode(es_stream_ctx *sc, uint8_t *dst, size_t len,
                    const uint8_t *src, size_t slen, elves_dtype dt)
{
    unsigned esz = float_size(dt);
    size_t n = len / esz, pos = 0;
    uint8_t *p[MAX_PLANES] = {NULL};
    const uint8_t *view[MAX_PLANES];
    int rc = 0;
    if (!es_float_dtype(dt))
        return ELVES_E_CORRUPT;
    if (!planes_alloc(sc, p, esz, n))
        return ELVES_E_NOMEM;
    /* Raw planes are merged straight from the payload. */
    for (unsigned k = 0; k < esz && rc == 0; k++)
        rc = es_stream_view(sc, &view[k], p[k], n, src, slen, &pos);
    if (rc == 0)
        es_float_merge(dst, view, n, dt);
    if (rc == 0)
        rc = es_bytes_get(dst + n * esz, len % esz, src, slen, &pos);
    if (rc == 0 && pos != slen)
        rc = ELVES_E_CORRUPT; /* trailing bytes: not what the encoder wrote */
    return rc;
}
