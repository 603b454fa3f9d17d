/*
 * choose.c - picking a codec per tensor by trial on a sample, and the
 * order-0 entropy bounds the codecs are measured against.
 */
#include <math.h>
#include <stdlib.h>

#include "codecs.h"
#include "internal.h"

#define SAMPLE_TOTAL ((size_t)256 << 10)
#define SAMPLE_SLICES 4

/* Total bits of an order-0 code for a histogram: sum of -c log2(c/total). */
static double hist_bits(const uint64_t *hist, size_t nsym, uint64_t total)
{
    double bits = 0, t = (double)total;
    size_t i;
    if (total == 0)
        return 0;
    for (i = 0; i < nsym; i++)
        if (hist[i])
            bits -= (double)hist[i] * log2((double)hist[i] / t);
    return bits;
}

/* The candidates worth trying, most preferred (fastest) first. */
static size_t candidates(elves_codec *c, elves_dtype dt, elves_mode mode)
{
    size_t k = 0;
    if (es_float_dtype(dt))
        c[k++] = ELVES_CODEC_FLOAT;
    if (mode == ELVES_MODE_ELF && dt == ELVES_DT_F32)
        c[k++] = ELVES_CODEC_ELF;
    c[k++] = ELVES_CODEC_DICT;
    c[k++] = ELVES_CODEC_ZSTD;
    return k;
}

/* Encoded size of the sample (spread slices aligned to elements). */
static int sample_size(uint64_t *out, es_stream_ctx *sc, uint8_t *buf,
                       const uint8_t *data, size_t len, elves_dtype dt,
                       elves_codec c)
{
    size_t unit = es_dict_unit(dt), slices = 1, slice = len, i, got;
    uint64_t total = 0;
    int rc;
    if (len > SAMPLE_TOTAL) {
        slices = SAMPLE_SLICES;
        slice = SAMPLE_TOTAL / SAMPLE_SLICES;
    }
    for (i = 0; i < slices; i++) {
        size_t off = slices == 1 ? 0 : (len - slice) / (slices - 1) * i;
        off -= off % unit;
        rc = es_block_encode_ctx(sc, &got, buf, elves_block_bound(slice),
                                 data + off, slice, dt, c, NULL);
        if (rc)
            return rc;
        total += got;
    }
    *out = total;
    return 0;
}

int elves_choose_codec(elves_codec *out, const uint8_t *data, size_t len,
                       elves_dtype dt, elves_mode mode)
{
    elves_codec cand[4];
    size_t k, i;
    uint64_t best = UINT64_MAX, size;
    uint8_t *buf;
    es_stream_ctx sc;
    int rc = 0;
    if (!out || (!data && len) || (unsigned)dt >= ELVES_DT_COUNT)
        return ELVES_E_INVALID;
    k = candidates(cand, dt, mode);
    *out = cand[0] == ELVES_CODEC_FLOAT ? ELVES_CODEC_FLOAT : ELVES_CODEC_ZSTD;
    if (len == 0)
        return 0;
    buf = malloc(elves_block_bound(len < SAMPLE_TOTAL ? len : SAMPLE_TOTAL));
    if (!buf)
        return ELVES_E_NOMEM;
    es_stream_ctx_init(&sc);
    for (i = 0; i < k && rc == 0; i++) {
        rc = sample_size(&size, &sc, buf, data, len, dt, cand[i]);
        if (rc == 0 && size < best) {
            best = size;
            *out = cand[i];
        }
    }
    es_stream_ctx_free(&sc);
    free(buf);
    return rc;
}

static double float_bound(const uint8_t *data, size_t len, elves_dtype dt)
{
    unsigned esz = elves_dtype_bits(dt) / 8, sym_bits, mant_bits;
    size_t n = len / esz, i;
    uint64_t *hist;
    double bits;
    switch (dt) {
    case ELVES_DT_F16:
        sym_bits = 6;
        break;
    case ELVES_DT_F64:
        sym_bits = 12;
        break;
    default:
        sym_bits = 9;
        break; /* BF16, F32 */
    }
    mant_bits = esz * 8 - sym_bits;
    hist = calloc((size_t)1 << sym_bits, sizeof *hist);
    if (!hist)
        return (double)len;
    for (i = 0; i < n; i++) {
        const uint8_t *p = data + i * esz;
        uint64_t v = esz == 2   ? es_load16(p)
                     : esz == 4 ? es_load32(p)
                                : es_load64(p);
        hist[v >> mant_bits]++;
    }
    bits = hist_bits(hist, (size_t)1 << sym_bits, n) + (double)n * mant_bits;
    free(hist);
    return bits / 8 + (double)(len % esz);
}

double elves_entropy_bound(const uint8_t *data, size_t len, elves_dtype dt)
{
    uint64_t hist[256] = {0};
    size_t i;
    if (!data || len == 0)
        return 0;
    if (es_float_dtype(dt))
        return float_bound(data, len, dt);
    for (i = 0; i < len; i++)
        hist[data[i]]++;
    return hist_bits(hist, 256, len) / 8;
}

double elves_elf_entropy_bound(const uint8_t *data, size_t len)
{
    uint64_t hist[3][256] = {{0}}, inliers = 0, outliers = 0;
    size_t n = len / 4, i;
    if (!data || len == 0)
        return 0;
    for (i = 0; i < n; i++) {
        uint32_t bits = es_load32(data + i * 4), m, w;
        float p, a;
        memcpy(&p, &bits, 4);
        a = fabsf(p);
        if (!(a < 1.0f - 0x1p-23f) || bits == 0x80000000u) {
            outliers++;
            continue;
        }
        a += 1.0f;
        memcpy(&m, &a, 4);
        w = (bits >> 31) << 23 | (m & 0x7fffffu);
        hist[0][w >> 16]++;
        hist[1][(w >> 8) & 0xff]++;
        hist[2][w & 0xff]++;
        inliers++;
    }
    return (hist_bits(hist[0], 256, inliers) +
            hist_bits(hist[1], 256, inliers) +
            hist_bits(hist[2], 256, inliers)) /
               8 +
           8.0 * (double)outliers + (double)(len % 4);
}
