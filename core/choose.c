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

/* A candidate whose slice-0 size (fallbacks taken) is more than
 * 1 + 1/LOSE_DIV times the best one's is dropped without trying it on
 * the other slices: on the shared checkpoints no such candidate ever won
 * over the whole sample, and the trials on the other slices (LZ above
 * all) were most of the cost of choosing. */
#define LOSE_DIV 16
#define SIZE_UNKNOWN (SIZE_MAX - 1)

/* Payload sizes of candidates on slices, computed on first use (without
 * fallbacks; SIZE_MAX when the codec did not fit), so that no codec is
 * run twice nor on slices where it cannot matter. */
typedef struct trials {
    es_stream_ctx *sc;
    const elves_codec *cand;
    size_t k;
    const sample *sm;
    const uint8_t *data;
    elves_dtype dt;
    uint8_t *buf, *lossy; /* sm->len bytes each */
    size_t size[4][SAMPLE_SLICES];
    int rc; /* first error met (NOMEM) */
} trials;

/* One trial.  ZSTD on floats is tried with its LZ setting only: its
 * order-0 setting codes the interleaved bytes of the elements, which
 * FLOAT's per-plane order-0 coding beats, so only LZ can make ZSTD win;
 * the order-0 pass was a quarter of the cost of choosing. */
static int trial_encode(trials *t, size_t c, size_t i, size_t *got)
{
    const uint8_t *src = t->data + t->sm->off[i];
    if (t->cand[c] == ELVES_CODEC_ZSTD && es_float_dtype(t->dt))
        return es_zstd_frame(t->sc, got, t->buf, t->sm->len - 1, src,
                             t->sm->len, ES_BEST_LZ_LEVEL);
    return es_codec_encode(t->sc, t->cand[c], got, t->buf, t->sm->len - 1,
                           t->lossy, src, t->sm->len, t->dt);
}

static size_t trial_size(trials *t, size_t c, size_t i)
{
    if (t->size[c][i] == SIZE_UNKNOWN) {
        size_t got = 0;
        int rc = t->rc ? t->rc : trial_encode(t, c, i, &got);
        t->size[c][i] = rc == 0 ? got : SIZE_MAX;
        if (rc < 0)
            t->rc = rc;
    }
    return t->size[c][i];
}

/* What a candidate would cost on a slice once fallbacks are taken. */
static size_t resolved(trials *t, size_t c, size_t i)
{
    elves_codec at = t->cand[c];
    for (;;) {
        size_t j = 0;
        while (j < t->k && t->cand[j] != at)
            j++;
        if (j < t->k && trial_size(t, j, i) != SIZE_MAX)
            return t->size[j][i];
        if (at == ELVES_CODEC_RAW)
            return t->sm->len;
        at = fallback_of(at, t->dt);
    }
}

/* Whether candidate c loses clearly on the first slice, or did not fit
 * there while another candidate did: then it only stands for its
 * fallback (DICT for FLOAT on floats, for ZSTD on bytes, when the slice
 * has too many distinct values), which is tried in its own right. */
static int drops(const trials *t, const size_t *first, size_t best0, size_t c)
{
    if (t->sm->count > 1 && first[c] > best0 + best0 / LOSE_DIV)
        return 1;
    if (t->size[c][0] != SIZE_MAX)
        return 0;
    for (size_t j = 0; j < t->k; j++)
        if (j != c && t->size[j][0] != SIZE_MAX &&
            t->size[j][0] != SIZE_UNKNOWN)
            return 1;
    return 0;
}

/* The candidate with the smallest total over the sample, skipping those
 * that drop out on the first slice.  A lone survivor wins without trials
 * on the other slices: on the shared checkpoints DICT fits no slice 0 of
 * a float tensor and stood for FLOAT (ZSTD on bytes) at the full cost of
 * its trials, a third of the cost of choosing. */
static size_t pick(trials *t)
{
    size_t first[4], best0 = SIZE_MAX, winner = 0, alive = 0;
    uint64_t best = UINT64_MAX;
    for (size_t c = 0; c < t->k; c++) {
        first[c] = resolved(t, c, 0);
        best0 = first[c] < best0 ? first[c] : best0;
    }
    for (size_t c = 0; c < t->k; c++)
        if (!drops(t, first, best0, c)) {
            alive++;
            winner = c;
        }
    if (alive == 1)
        return winner;
    winner = 0;
    for (size_t c = 0; c < t->k && t->rc == 0; c++) {
        uint64_t total = first[c];
        if (drops(t, first, best0, c))
            continue;
        for (size_t i = 1; i < t->sm->count; i++)
            total += resolved(t, c, i);
        if (total < best) {
            best = total;
            winner = c;
        }
    }
    return winner;
}

int elves_choose_codec(elves_codec *out, const uint8_t *data, size_t len,
                       elves_dtype dt, elves_mode mode)
{
    elves_codec cand[4];
    size_t k;
    sample sm;
    trials t;
    es_stream_ctx local, *sc;
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
    memset(&t, 0, sizeof t);
    t.sc = sc;
    t.cand = cand;
    t.k = k;
    t.sm = &sm;
    t.data = data;
    t.dt = dt;
    for (size_t c = 0; c < k; c++)
        for (size_t i = 0; i < SAMPLE_SLICES; i++)
            t.size[c][i] = SIZE_UNKNOWN;
    /* The block slot: codecs only use the codec slot, and no block is
     * being encoded on this thread while choosing. */
    t.buf = es_scratch(sc, ES_SCRATCH_BLOCK, 2 * sm.len);
    t.lossy = t.buf ? t.buf + sm.len : NULL;
    if (!t.buf)
        t.rc = ELVES_E_NOMEM;
    size_t winner = pick(&t);
    if (t.rc == 0)
        *out = cand[winner];
    if (sc == &local)
        es_stream_ctx_free(&local);
    else
        es_stream_ctx_trim(sc);
    return t.rc;
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

void elves_elf_plane_hist(uint64_t hist[3][256], uint64_t *outliers,
                          const uint8_t *data, size_t len)
{
    size_t n = data ? len / 4 : 0;
    memset(hist, 0, 3 * sizeof hist[0]);
    *outliers = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t bits = es_load32(data + i * 4), m, w;
        float p, a;
        memcpy(&p, &bits, 4);
        a = fabsf(p);
        if (!(a < 1.0f - 0x1p-23f) || bits == 0x80000000u) {
            (*outliers)++;
            continue;
        }
        a += 1.0f;
        memcpy(&m, &a, 4);
        w = (bits >> 31) << 23 | (m & 0x7fffffu);
        hist[0][w >> 16]++;
        hist[1][(w >> 8) & 0xff]++;
        hist[2][w & 0xff]++;
    }
}

double elves_elf_entropy_bound(const uint8_t *data, size_t len)
{
    uint64_t hist[3][256], outliers, inliers;
    if (!data || len == 0)
        return 0;
    elves_elf_plane_hist(hist, &outliers, data, len);
    inliers = len / 4 - outliers;
    return (hist_bits(hist[0], 256, inliers) +
            hist_bits(hist[1], 256, inliers) +
            hist_bits(hist[2], 256, inliers)) /
               8 +
           8.0 * (double)outliers + (double)(len % 4);
}

double elves_xor_entropy_bound(const uint8_t *a, const uint8_t *b, size_t len,
                               elves_dtype dt)
{
    unsigned bits = elves_dtype_bits(dt);
    unsigned w = bits == 16 || bits == 32 || bits == 64 ? bits / 8 : 1;
    uint64_t hist[8][256];
    size_t m = len / w;
    double total = 0;

    if (!a || !b)
        return 0;
    memset(hist, 0, sizeof hist);
    for (size_t i = 0; i < m * w; i++)
        hist[i % w][a[i] ^ b[i]]++;
    for (unsigned k = 0; k < w; k++)
        total += hist_bits(hist[k], 256, m);
    return total / 8 + (double)(len % w);
}
