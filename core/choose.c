/*
 * choose.c - picking a codec per tensor by trial on a sample, and the
 * order-0 entropy bounds the codecs are measured against.
 */
#include <math.h>
#include <stdlib.h>

#include "codecs.h"
#include "internal.h"

/* Sample size: 64 KiB (4 slices of 16 KiB) picked the same codec as
 * 128 and 256 KiB for every tensor of the shared checkpoints, at a
 * fraction of the trial cost. */
#define SAMPLE_TOTAL ((size_t)64 << 10)
/* ... but at most a SAMPLE_DIV-th of the tensor (not less than
 * SAMPLE_MIN), so that trials on mid-size tensors do not cost more than
 * encoding them. */
#define SAMPLE_DIV 8
#define SAMPLE_MIN ((size_t)16 << 10)
/* Tensors smaller than this only try the float codecs (or get ZSTD if
 * not floats): on the shared checkpoints, trying DICT and ZSTD on them
 * cost 2x to 5x the encode time and gained at most 0.15% of the file. */
#define CHOOSE_MIN ((size_t)64 << 10)
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

/* The candidates worth trying, most preferred (fastest) first.  Small
 * tensors only get the float codecs (FLOAT, and ELF in ELF mode). */
static size_t candidates(elves_codec *c, elves_dtype dt, elves_mode mode,
                         size_t len)
{
    size_t k = 0;
    if (es_float_dtype(dt))
        c[k++] = ELVES_CODEC_FLOAT;
    if (mode == ELVES_MODE_ELF && dt == ELVES_DT_F32)
        c[k++] = ELVES_CODEC_ELF;
    if (len < CHOOSE_MIN && k > 0)
        return k;
    if (len >= CHOOSE_MIN)
        c[k++] = ELVES_CODEC_DICT;
    c[k++] = ELVES_CODEC_ZSTD;
    return k;
}

/* Where block encoding goes when a codec does not fit (as in block.c). */
static elves_codec fallback_of(elves_codec c, elves_dtype dt)
{
    if (c == ELVES_CODEC_ELF || c == ELVES_CODEC_DICT)
        return es_float_dtype(dt) ? ELVES_CODEC_FLOAT : ELVES_CODEC_ZSTD;
    return c == ELVES_CODEC_FLOAT ? ELVES_CODEC_ZSTD : ELVES_CODEC_RAW;
}

/* The sample: up to SAMPLE_SLICES slices spread over the data, aligned to
 * elements. */
typedef struct sample {
    size_t count, len, off[SAMPLE_SLICES];
} sample;

static void sample_plan(sample *sm, size_t len, size_t unit)
{
    size_t total = len / SAMPLE_DIV;
    total = total < SAMPLE_MIN ? SAMPLE_MIN : total;
    total = total > SAMPLE_TOTAL ? SAMPLE_TOTAL : total;
    sm->count = 1;
    sm->len = len;
    sm->off[0] = 0;
    if (len <= total)
        return;
    sm->count = SAMPLE_SLICES;
    sm->len = total / SAMPLE_SLICES / 8 * 8;
    for (size_t i = 0; i < SAMPLE_SLICES; i++) {
        size_t off = (len - sm->len) / (SAMPLE_SLICES - 1) * i;
        sm->off[i] = off - off % unit;
    }
}

/* Payload size of each candidate on each slice, without fallbacks
 * (SIZE_MAX: the codec did not fit), so that no codec is run twice. */
static int trial_sizes(size_t size[][SAMPLE_SLICES], es_stream_ctx *sc,
                       const elves_codec *cand, size_t k, const sample *sm,
                       const uint8_t *data, elves_dtype dt)
{
    uint8_t *buf = malloc(2 * sm->len), *lossy = buf + sm->len;
    int rc = 0;
    if (!buf)
        return ELVES_E_NOMEM;
    for (size_t c = 0; c < k && rc == 0; c++)
        for (size_t i = 0; i < sm->count && rc == 0; i++) {
            size_t got = 0;
            rc = es_codec_encode(sc, cand[c], &got, buf, sm->len - 1, lossy,
                                 data + sm->off[i], sm->len, dt);
            size[c][i] = rc == ES_NOFIT ? SIZE_MAX : got;
            rc = rc < 0 ? rc : 0;
        }
    free(buf);
    return rc;
}

/* What a candidate would cost on a slice once fallbacks are taken. */
static size_t resolved(size_t size[][SAMPLE_SLICES], const elves_codec *cand,
                       size_t k, size_t c, size_t i, const sample *sm,
                       elves_dtype dt)
{
    elves_codec at = cand[c];
    for (;;) {
        size_t j = 0;
        while (j < k && cand[j] != at)
            j++;
        if (j < k && size[j][i] != SIZE_MAX)
            return size[j][i];
        if (at == ELVES_CODEC_RAW)
            return sm->len;
        at = fallback_of(at, dt);
    }
}

int elves_choose_codec(elves_codec *out, const uint8_t *data, size_t len,
                       elves_dtype dt, elves_mode mode)
{
    elves_codec cand[4];
    size_t size[4][SAMPLE_SLICES], k;
    uint64_t best = UINT64_MAX;
    sample sm;
    es_stream_ctx local, *sc;
    int rc;
    if (!out || (!data && len) || (unsigned)dt >= ELVES_DT_COUNT)
        return ELVES_E_INVALID;
    k = candidates(cand, dt, mode, len);
    *out = cand[0];
    if (k == 1 || len < 2)
        return 0;
    sample_plan(&sm, len, es_dict_unit(dt));
    sc = es_thread_ctx();
    if (!sc) {
        es_stream_ctx_init(&local);
        sc = &local;
    }
    rc = trial_sizes(size, sc, cand, k, &sm, data, dt);
    if (sc == &local)
        es_stream_ctx_free(&local);
    else
        es_stream_ctx_trim(sc);
    for (size_t c = 0; c < k && rc == 0; c++) {
        uint64_t total = 0;
        for (size_t i = 0; i < sm.count; i++)
            total += resolved(size, cand, k, c, i, &sm, dt);
        if (total < best) {
            best = total;
            *out = cand[c];
        }
    }
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
