/*
 * stream_split.c - the SPLIT stream form: a byte stream cut into groups of
 * GROUP bytes, each group sent to one of k parts by a selector, each part
 * written as an order-0 stream of its own (bzip2's several Huffman tables,
 * on our zstd entropy stage).
 *
 * Where it pays: the exponent plane of a unit of many small float tensors
 * of different kinds (batch-norm scales, biases, means and variances side
 * by side), where one order-0 table over the whole unit mixes their
 * exponent ranges.  On ppocr-mobile-v2-cls the exponent stream of its
 * 152-tensor unit went from 5256 to 4317 bytes, eight parts.  A model by
 * the previous byte (order 1, tried first) saved a little less and decoded
 * one dependent load chain per byte: the whole file decoded at 2384 MB/s
 * instead of 4369.  Groups decode as one 32-byte copy each.
 * Streams of one kind gain nothing: a pass over group means turns them
 * away (group_means), and streams over SPLIT_MAX_N bytes are not tried.
 *
 * Format (after the tag byte ES_TAG_SPLIT):
 *   u8 k                        parts, 2..SPLIT_MAX
 *   stream of ceil(n / GROUP)   selectors, each < k, in any form but SPLIT
 *   k streams                   each part's bytes in stream order (GROUP
 *                               per group it was selected for, fewer for
 *                               a short last group), in any form but SPLIT
 */
#include <math.h>
#include <stdlib.h>

#include "codecs.h" /* ES_VECTORIZE */
#include "internal.h"
#include "stream.h"

#define GROUP 32
#define SPLIT_MAX 8u
/* Streams tried (and accepted by the decoder): up to 64 Ki bytes, the
 * exponent plane of a 256 KiB float unit. */
#define SPLIT_MAX_N ((size_t)64 << 10)
#define SPLIT_MIN_N 256
/* The split is encoded only when its first estimate saves at least
 * 1/GAIN_DIV of the order-0 estimate (both with a rough table cost). */
#define GAIN_DIV 32
/* How much more than chance group means must vary (see group_means). */
#define MIN_SPREAD 4.0
/* Passes of reassigning each group to the part that codes it cheapest. */
#define REFINE 2
/* Estimated table cost of an order-0 stream: fixed bytes, plus half a
 * byte per symbol in use (zstd's Huffman weights, 4 bits each). */
#define TABLE_FIXED 6.0

typedef struct split_plan {
    unsigned k;
    size_t ngroups;
    uint8_t *sel;                  /* ngroups */
    uint32_t hist[SPLIT_MAX][256]; /* bytes of each part */
} split_plan;

static size_t group_len(size_t n, size_t g)
{
    return n - g * GROUP < GROUP ? n - g * GROUP : GROUP;
}

/* Bits of an order-0 code for a histogram of `total` bytes, plus its
 * estimated table. */
static float coded_bits(const uint32_t *h, uint32_t total)
{
    float bits = 0, log_total;
    unsigned used = 0;
    if (total == 0)
        return 8;
    log_total = es_fast_log2((float)total);
    for (unsigned s = 0; s < 256; s++)
        if (h[s]) {
            used++;
            bits -= (float)h[s] * (es_fast_log2((float)h[s]) - log_total);
        }
    return bits + 8 * (float)TABLE_FIXED + 4.0f * (float)used;
}

static uint32_t hist_total(const uint32_t *h)
{
    uint32_t t = 0;
    for (unsigned s = 0; s < 256; s++)
        t += h[s];
    return t;
}

static void plan_hist(split_plan *pl, const uint8_t *p, size_t n)
{
    memset(pl->hist, 0, sizeof pl->hist);
    for (size_t g = 0; g < pl->ngroups; g++) {
        const uint8_t *q = p + g * GROUP;
        uint32_t *h = pl->hist[pl->sel[g]];
        for (size_t i = 0, m = group_len(n, g); i < m; i++)
            h[q[i]]++;
    }
}

/* The mean byte of every group into sel; 0 when the group means vary
 * less than MIN_SPREAD times what groups of one kind would (the variance
 * of all bytes / GROUP): a stream of one kind, nothing to split.  One
 * cheap pass that turns away most streams before any histogram. */
ES_VECTORIZE static int group_means(split_plan *pl, const uint8_t *p, size_t n)
{
    double sum = 0, sum2 = 0, means2 = 0;
    for (size_t g = 0; g < pl->ngroups; g++) {
        const uint8_t *q = p + g * GROUP;
        size_t m = group_len(n, g);
        uint32_t s1 = 0, s2 = 0;
        for (size_t i = 0; i < m; i++) {
            s1 += q[i];
            s2 += (uint32_t)q[i] * q[i];
        }
        double mean = (double)s1 / (double)m;
        pl->sel[g] = (uint8_t)(s1 / m);
        sum += s1;
        sum2 += s2;
        means2 += (double)m * mean * mean;
    }
    /* Both variances weighted by bytes, so that a short last group does
     * not shift the mean of the means: with bytes near 120, a shift of
     * 0.2 was 2 x 120 x 0.2 = 48 off, which hid four clear kinds. */
    double mu = sum / (double)n;
    double var_all = sum2 / (double)n - mu * mu;
    double var_means = means2 / (double)n - mu * mu;
    return var_means * GROUP > MIN_SPREAD * var_all;
}

/* SPLIT_MAX parts by mean, in ranges of about equal numbers of groups. */
static void parts_by_mean(split_plan *pl)
{
    uint32_t hm[256] = {0};
    uint8_t range[256];
    size_t seen = 0;
    unsigned c = 0;
    for (size_t g = 0; g < pl->ngroups; g++)
        hm[pl->sel[g]]++;
    for (unsigned v = 0; v < 256; v++) {
        if (hm[v] && c + 1 < SPLIT_MAX &&
            seen * SPLIT_MAX >= pl->ngroups * (c + 1))
            c++;
        range[v] = (uint8_t)c;
        seen += hm[v];
    }
    pl->k = SPLIT_MAX;
    for (size_t g = 0; g < pl->ngroups; g++)
        pl->sel[g] = range[pl->sel[g]];
}

/* Part c of the SPLIT_MAX parts merged 1 << shift at a time (neighbouring
 * ranges together), into h. */
static void merged_hist(uint32_t h[256], const split_plan *pl, unsigned shift,
                        unsigned c)
{
    memset(h, 0, 256 * sizeof *h);
    for (unsigned j = c << shift; j < (c + 1) << shift; j++)
        for (unsigned s = 0; s < 256; s++)
            h[s] += pl->hist[j][s];
}

/* Merges the SPLIT_MAX parts into k. */
static void merge_parts(split_plan *pl, unsigned k)
{
    uint32_t h[256];
    unsigned shift = 0;
    while ((SPLIT_MAX >> shift) > k)
        shift++;
    /* Part c reads parts c << shift and up: none written yet. */
    for (unsigned c = 0; c < k; c++) {
        merged_hist(h, pl, shift, c);
        memcpy(pl->hist[c], h, sizeof h);
    }
    memset(pl->hist[k], 0, (SPLIT_MAX - k) * sizeof pl->hist[0]);
    for (size_t g = 0; g < pl->ngroups; g++)
        pl->sel[g] = (uint8_t)(pl->sel[g] >> shift);
    pl->k = k;
}

/* Estimated bits of the SPLIT_MAX-part plan merged 1 << shift at a time:
 * every part, and the selectors.  The plan itself is left as it is. */
static float merged_bits(const split_plan *pl, unsigned shift)
{
    uint32_t h[256], hs[256] = {0};
    float bits = 0;
    for (unsigned c = 0; c < SPLIT_MAX >> shift; c++) {
        merged_hist(h, pl, shift, c);
        bits += coded_bits(h, hist_total(h));
    }
    for (size_t g = 0; g < pl->ngroups; g++)
        hs[pl->sel[g] >> shift]++;
    return bits + coded_bits(hs, (uint32_t)pl->ngroups);
}

/* The number of parts whose first assignment promises most, or 0 if none
 * saves 1/GAIN_DIV over order-0: tables cost more than eight parts save
 * on short streams. */
static unsigned best_parts(const split_plan *pl, float plain)
{
    float best = plain - plain / GAIN_DIV;
    unsigned best_k = 0;
    for (unsigned shift = 0; SPLIT_MAX >> shift >= 2; shift++) {
        float bits = merged_bits(pl, shift);
        if (bits < best) {
            best = bits;
            best_k = SPLIT_MAX >> shift;
        }
    }
    return best_k;
}

/* Each group to the part whose current statistics code it cheapest.  The
 * costs are laid out by byte so that one group's sums over every part run
 * side by side (vectorised) instead of one dependent chain per part. */
ES_VECTORIZE static void plan_refine(split_plan *pl, const uint8_t *p, size_t n)
{
    float cost[256][SPLIT_MAX];
    for (unsigned c = 0; c < SPLIT_MAX; c++) {
        float log_total =
            c < pl->k
                ? es_fast_log2((float)hist_total(pl->hist[c]) + 256 * 0.02f + 1)
                : 0;
        for (unsigned s = 0; s < 256; s++)
            cost[s][c] =
                c < pl->k
                    ? log_total - es_fast_log2((float)pl->hist[c][s] + 1.02f)
                    : HUGE_VALF;
    }
    for (size_t g = 0; g < pl->ngroups; g++) {
        const uint8_t *q = p + g * GROUP;
        size_t m = group_len(n, g);
        float bits[SPLIT_MAX] = {0}, best = HUGE_VALF;
        for (size_t i = 0; i < m; i++)
            for (unsigned c = 0; c < SPLIT_MAX; c++)
                bits[c] += cost[q[i]][c];
        for (unsigned c = 0; c < pl->k; c++)
            if (bits[c] < best) {
                best = bits[c];
                pl->sel[g] = (uint8_t)c;
            }
    }
    plan_hist(pl, p, n);
}

/* Writes the split form at dst[*pos], below cap: 0, ES_NOFIT, or an
 * error. */
static int put_split(es_stream_ctx *sc, uint8_t *dst, size_t cap, size_t *pos,
                     const uint8_t *p, size_t n, const split_plan *pl)
{
    uint8_t *parts = malloc(n), *at[SPLIT_MAX];
    size_t start = 0, count[SPLIT_MAX];
    int rc = 0;
    if (!parts)
        return ELVES_E_NOMEM;
    for (unsigned c = 0; c < pl->k; c++) {
        count[c] = 0;
        for (unsigned s = 0; s < 256; s++)
            count[c] += pl->hist[c][s];
        at[c] = parts + start;
        start += count[c];
    }
    for (size_t g = 0; g < pl->ngroups; g++) {
        size_t m = group_len(n, g);
        memcpy(at[pl->sel[g]], p + g * GROUP, m);
        at[pl->sel[g]] += m;
    }
    if (cap - *pos < 2)
        rc = ES_NOFIT;
    if (rc == 0) {
        dst[(*pos)++] = ES_TAG_SPLIT;
        dst[(*pos)++] = (uint8_t)pl->k;
        rc = es_stream_put(sc, dst, cap, pos, pl->sel, pl->ngroups, ES_ENTROPY);
    }
    start = 0;
    for (unsigned c = 0; c < pl->k && rc == 0; c++) {
        rc = es_stream_put(sc, dst, cap, pos, parts + start, count[c],
                           ES_ENTROPY);
        start += count[c];
    }
    free(parts);
    return rc;
}

int es_split_try(es_stream_ctx *sc, uint8_t *dst, size_t start, size_t *pos,
                 const uint8_t *p, size_t n)
{
    split_plan *pl;
    size_t have = *pos - start, alt_pos = 0;
    uint8_t *alt = NULL;
    int rc = 0;
    if (n < SPLIT_MIN_N || n > SPLIT_MAX_N || have <= 16)
        return 0;
    pl = malloc(sizeof *pl);
    if (!pl)
        return ELVES_E_NOMEM;
    pl->ngroups = (n + GROUP - 1) / GROUP;
    pl->sel = malloc(pl->ngroups);
    if (!pl->sel) {
        free(pl);
        return ELVES_E_NOMEM;
    }
    unsigned k = 0, spread = group_means(pl, p, n);
    if (spread) {
        uint32_t h[256] = {0};
        parts_by_mean(pl);
        plan_hist(pl, p, n);
        for (unsigned c = 0; c < SPLIT_MAX; c++)
            for (unsigned v = 0; v < 256; v++)
                h[v] += pl->hist[c][v];
        k = best_parts(pl, coded_bits(h, (uint32_t)n));
    }
    if (k) {
        merge_parts(pl, k);
        for (int r = 0; r < REFINE; r++)
            plan_refine(pl, p, n);
        /* Written aside, and kept only if smaller than what is in place. */
        alt = malloc(have);
        rc = alt ? put_split(sc, alt, have - 1, &alt_pos, p, n, pl)
                 : ELVES_E_NOMEM;
        if (rc == 0) {
            memcpy(dst + start, alt, alt_pos);
            *pos = start + alt_pos;
        }
    }
    free(alt);
    free(pl->sel);
    free(pl);
    return rc < 0 ? rc : 0;
}

/* One part or the selectors: a stream in any form but SPLIT. */
static int get_inner(es_stream_ctx *sc, uint8_t *dst, size_t n,
                     const uint8_t *src, size_t len, size_t *pos)
{
    if (*pos >= len || src[*pos] == ES_TAG_SPLIT)
        return ELVES_E_CORRUPT;
    return es_stream_get(sc, dst, n, src, len, pos);
}

int es_split_get(es_stream_ctx *sc, uint8_t *dst, size_t n, const uint8_t *src,
                 size_t len, size_t *pos)
{
    size_t ngroups = (n + GROUP - 1) / GROUP, count[SPLIT_MAX] = {0}, start = 0;
    const uint8_t *at[SPLIT_MAX];
    uint8_t *buf;
    unsigned k;
    int rc;
    if (*pos >= len || n > SPLIT_MAX_N)
        return ELVES_E_CORRUPT;
    k = src[(*pos)++];
    if (k < 2 || k > SPLIT_MAX)
        return ELVES_E_CORRUPT;
    buf = malloc(ngroups + n + 1);
    if (!buf)
        return ELVES_E_NOMEM;
    uint8_t *sel = buf, *parts = buf + ngroups;
    rc = get_inner(sc, sel, ngroups, src, len, pos);
    for (size_t g = 0; g < ngroups && rc == 0; g++) {
        if (sel[g] >= k)
            rc = ELVES_E_CORRUPT;
        else
            count[sel[g]] += group_len(n, g);
    }
    for (unsigned c = 0; c < k && rc == 0; c++) {
        at[c] = parts + start;
        rc = get_inner(sc, parts + start, count[c], src, len, pos);
        start += count[c];
    }
    for (size_t g = 0; g + 1 < ngroups && rc == 0; g++) {
        memcpy(dst + g * GROUP, at[sel[g]], GROUP); /* one copy, inlined */
        at[sel[g]] += GROUP;
    }
    if (rc == 0 && ngroups)
        memcpy(dst + (ngroups - 1) * GROUP, at[sel[ngroups - 1]],
               group_len(n, ngroups - 1));
    free(buf);
    return rc;
}
