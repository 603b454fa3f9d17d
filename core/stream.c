/*
 * stream.c - the entropy stage: stores a separated byte stream raw, as a
 * constant, or through zstd (order-0 entropy setting or full LZ level),
 * whichever is smallest.  See stream.h for the format.
 */
#define ZSTD_STATIC_LINKING_ONLY /* literal compression mode, magicless */
#include <zstd.h>
#include <zstd_errors.h>

#include <stdlib.h>

#include "codecs.h" /* ES_VECTORIZE */
#include "internal.h"
#include "stream.h"

/* Streams shorter than this are stored raw or constant: a zstd frame and
 * its Huffman table would cost more than they save. */
#define MIN_CODED 64
/* Bytes of a stream sampled to decide whether entropy coding pays. */
#define SAMPLE_CHUNK 4096
#define SAMPLE_CHUNKS 8
/* Entropy coding is tried only if the sample's order-0 entropy promises to
 * save at least 1/GAIN_DIV of the stream; zstd itself keeps literals raw
 * below about 1/64, so trying closer to 8 bits/byte only costs time. */
#define GAIN_DIV 48
/* Longest stream the packed form is considered for: beyond it a Huffman
 * table costs little next to what it saves over fixed-width codes. */
#define PACK_MAX 4096
/* Longest stream coded minus its smallest value (see put_based): beyond
 * it the shorter table is not worth a pass over the stream. */
#define BASE_MAX 16384

void es_stream_ctx_init(es_stream_ctx *sc)
{
    memset(sc, 0, sizeof *sc);
}

void es_stream_ctx_free(es_stream_ctx *sc)
{
    ZSTD_freeCCtx(sc->cctx[0]);
    ZSTD_freeCCtx(sc->cctx[1]);
    ZSTD_freeDCtx(sc->dctx);
    for (int i = 0; i < ES_SCRATCH_SLOTS; i++)
        free(sc->scratch[i]);
    es_stream_ctx_init(sc);
}

static void trim_slot(es_stream_ctx *sc, int i, size_t keep)
{
    if (sc->scratch_cap[i] > keep) {
        free(sc->scratch[i]);
        sc->scratch[i] = NULL;
        sc->scratch_cap[i] = 0;
    }
}

void es_stream_ctx_trim(es_stream_ctx *sc)
{
    trim_slot(sc, ES_SCRATCH_CODEC, ES_SCRATCH_KEEP);
    trim_slot(sc, ES_SCRATCH_BLOCK, ES_SCRATCH_KEEP);
    trim_slot(sc, ES_SCRATCH_DELTA, ES_SCRATCH_KEEP);
}

void es_stream_ctx_trim_segment(es_stream_ctx *sc)
{
    trim_slot(sc, ES_SCRATCH_SEGMENT, ES_SCRATCH_KEEP_SEGMENT);
}

uint8_t *es_scratch(es_stream_ctx *sc, int slot, size_t size)
{
    if (size == 0)
        size = 1;
    if (sc->scratch_cap[slot] < size) {
        free(sc->scratch[slot]);
        sc->scratch[slot] = malloc(size);
        sc->scratch_cap[slot] = sc->scratch[slot] ? size : 0;
    }
    return sc->scratch[slot];
}

/*
 * The order-0 setting: zstd's fast strategy with match sampling spread far
 * apart (targetLength) and long minimum matches, so nearly every byte goes
 * to the Huffman-coded literals; literal compression is forced on because
 * zstd disables it by default for this strategy.
 */
static int load_entropy_params(ZSTD_CCtx *c)
{
    size_t r = 0, e = 0;
    r = ZSTD_CCtx_setParameter(c, ZSTD_c_strategy, ZSTD_fast);
    e |= ZSTD_isError(r);
    r = ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, 17);
    e |= ZSTD_isError(r);
    r = ZSTD_CCtx_setParameter(c, ZSTD_c_hashLog, 6);
    e |= ZSTD_isError(r);
    r = ZSTD_CCtx_setParameter(c, ZSTD_c_minMatch, 7);
    e |= ZSTD_isError(r);
    r = ZSTD_CCtx_setParameter(c, ZSTD_c_targetLength, ZSTD_TARGETLENGTH_MAX);
    e |= ZSTD_isError(r);
    r = ZSTD_CCtx_setParameter(c, ZSTD_c_literalCompressionMode,
                               ZSTD_ps_enable);
    e |= ZSTD_isError(r);
    return e ? -1 : 0;
}

static int load_params(es_stream_ctx *sc, int slot, int level)
{
    ZSTD_CCtx *c = sc->cctx[slot];
    int bad;
    if (sc->cctx_level[slot] == level)
        return 0;
    ZSTD_CCtx_reset(c, ZSTD_reset_session_and_parameters);
    if (level == ES_ENTROPY)
        bad = load_entropy_params(c);
    else
        bad = ZSTD_isError(
            ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level));
    /* The decoder always knows the size and that a frame follows; these
     * fields would be waste. */
    bad |= ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0));
    bad |= ZSTD_isError(
        ZSTD_CCtx_setParameter(c, ZSTD_c_format, ZSTD_f_zstd1_magicless));
    bad |= ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 0));
    bad |= ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_dictIDFlag, 0));
    sc->cctx_level[slot] = bad ? 0 : level;
    return bad ? ELVES_E_NOMEM : 0;
}

int es_zstd_frame(es_stream_ctx *sc, size_t *out, uint8_t *dst, size_t cap,
                  const uint8_t *src, size_t n, int level)
{
    int slot = level == ES_ENTROPY ? 0 : 1;
    size_t r;
    if (!sc->cctx[slot]) {
        sc->cctx[slot] = ZSTD_createCCtx();
        if (!sc->cctx[slot])
            return ELVES_E_NOMEM;
    }
    if (load_params(sc, slot, level) != 0)
        return ELVES_E_NOMEM;
    r = ZSTD_compress2(sc->cctx[slot], dst, cap, src, n);
    if (ZSTD_isError(r)) {
        if (ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation)
            return ELVES_E_NOMEM;
        return ES_NOFIT; /* dstSize_tooSmall: it does not pay */
    }
    *out = r;
    return 0;
}

int es_zstd_unframe(es_stream_ctx *sc, uint8_t *dst, size_t n,
                    const uint8_t *src, size_t len)
{
    size_t r;
    if (!sc->dctx) {
        sc->dctx = ZSTD_createDCtx();
        if (!sc->dctx)
            return ELVES_E_NOMEM;
        if (ZSTD_isError(ZSTD_DCtx_setParameter(sc->dctx, ZSTD_d_format,
                                                ZSTD_f_zstd1_magicless))) {
            ZSTD_freeDCtx(sc->dctx);
            sc->dctx = NULL;
            return ELVES_E_NOMEM;
        }
    }
    r = ZSTD_decompressDCtx(sc->dctx, dst, n, src, len);
    if (ZSTD_isError(r)) {
        if (ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation)
            return ELVES_E_NOMEM;
        return ELVES_E_CORRUPT;
    }
    return r == n ? 0 : ELVES_E_CORRUPT;
}

/* All bytes equal?  Fixed-size groups so that gcc -O2 vectorises. */
static int all_equal(const uint8_t *p, size_t n)
{
    uint8_t acc = 0, first = p[0];
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        for (size_t k = 0; k < 64; k++)
            acc |= (uint8_t)(p[i + k] ^ first);
        if (acc)
            return 0;
    }
    for (; i < n; i++)
        acc |= (uint8_t)(p[i] ^ first);
    return acc == 0;
}

/* Histogram of p[0..n) into h[0..tables) (1 or 4 tables: with four, runs
 * of one symbol do not serialise on one counter; one is cheaper to clear
 * and sum for short streams). */
static void hist_add(uint32_t h[4][256], int tables, const uint8_t *p, size_t n)
{
    size_t i = 0;
    if (tables == 4)
        for (; i + 4 <= n; i += 4) {
            h[0][p[i]]++;
            h[1][p[i + 1]]++;
            h[2][p[i + 2]]++;
            h[3][p[i + 3]]++;
        }
    for (; i < n; i++)
        h[0][p[i]]++;
}

typedef enum { LOOK_CONST, LOOK_RAW, LOOK_CODE } look;

/* A glance at a sample of the stream: constant, not worth coding, or
 * worth handing to zstd. */
static look sample_look(const uint8_t *p, size_t n)
{
    uint32_t h[4][256];
    double bits = 0, total, log_total;
    unsigned distinct = 0;
    size_t chunks = n <= SAMPLE_CHUNK * SAMPLE_CHUNKS ? 1 : SAMPLE_CHUNKS;
    size_t len = chunks == 1 ? n : SAMPLE_CHUNK, sampled = len * chunks;
    int tables = sampled < 4096 ? 1 : 4;
    memset(h, 0, (size_t)tables * sizeof h[0]);
    for (size_t c = 0; c < chunks; c++)
        hist_add(h, tables,
                 p + (chunks == 1 ? 0 : (n - len) / (chunks - 1) * c), len);
    total = (double)sampled;
    log_total = es_fast_log2((float)sampled);
    for (int s = 0; s < 256; s++) {
        uint32_t k = h[0][s];
        if (tables == 4)
            k += h[1][s] + h[2][s] + h[3][s];
        if (k) {
            distinct++;
            bits -= k * (es_fast_log2((float)k) - log_total);
        }
    }
    if (distinct == 1)
        return all_equal(p, n) ? LOOK_CONST : LOOK_CODE;
    return bits <= total * 8 * (1 - 1.0 / GAIN_DIV) ? LOOK_CODE : LOOK_RAW;
}

int es_bytes_put(uint8_t *dst, size_t cap, size_t *pos, const uint8_t *src,
                 size_t n)
{
    if (cap - *pos < n)
        return ES_NOFIT;
    if (n)
        memcpy(dst + *pos, src, n);
    *pos += n;
    return 0;
}

int es_bytes_get(uint8_t *dst, size_t n, const uint8_t *src, size_t len,
                 size_t *pos)
{
    if (*pos > len || len - *pos < n)
        return ELVES_E_CORRUPT;
    if (n)
        memcpy(dst, src + *pos, n);
    *pos += n;
    return 0;
}

static int put_raw(uint8_t *dst, size_t cap, size_t *pos, const uint8_t *src,
                   size_t n)
{
    if (cap - *pos < 1 || cap - *pos - 1 < n)
        return ES_NOFIT;
    dst[(*pos)++] = ES_TAG_RAW;
    return es_bytes_put(dst, cap, pos, src, n);
}

/* LEB128 length after a ZSTD tag: frames are < 2^28 bytes (blocks are at
 * most 64 MiB), so at most 4 bytes. */
#define VARINT_MAX 4

static size_t varint_len(size_t v)
{
    size_t k = 1;
    while (v >= 0x80) {
        v >>= 7;
        k++;
    }
    return k;
}

static void varint_put(uint8_t *p, size_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p = (uint8_t)v;
}

int es_varint_put(uint8_t *dst, size_t cap, size_t *pos, size_t v)
{
    if (v >> (7 * VARINT_MAX) || cap - *pos < varint_len(v))
        return ES_NOFIT;
    varint_put(dst + *pos, v);
    *pos += varint_len(v);
    return 0;
}

int es_varint_get(size_t *out, const uint8_t *src, size_t len, size_t *pos)
{
    size_t v = 0;
    for (int i = 0; i < VARINT_MAX; i++) {
        if (*pos >= len)
            return ELVES_E_CORRUPT;
        v |= (size_t)(src[*pos] & 0x7f) << (7 * i);
        if (!(src[(*pos)++] & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return ELVES_E_CORRUPT;
}

/* ---- packed form: small streams with a narrow range of values ---------- */

/* The packed form of a stream, when it is smaller than the raw one, and
 * the stream's smallest value (0 when not looked at: over BASE_MAX). */
typedef struct pack {
    int ok;
    uint8_t base, bits;
    size_t len; /* bytes of the whole form, tag included */
} pack;

static size_t packed_bytes(size_t n, unsigned bits)
{
    return (n * bits + 7) / 8;
}

ES_VECTORIZE static void min_max(uint8_t *lo_out, uint8_t *hi_out,
                                 const uint8_t *p, size_t n)
{
    uint8_t lo = 255, hi = 0;
    for (size_t i = 0; i < n; i++) {
        lo = p[i] < lo ? p[i] : lo;
        hi = p[i] > hi ? p[i] : hi;
    }
    *lo_out = lo;
    *hi_out = hi;
}

static pack pack_plan(const uint8_t *p, size_t n)
{
    pack pk = {0, 0, 0, 1 + n};
    uint8_t lo = 255, hi = 0;
    unsigned bits = 1;
    if (n == 0 || n > BASE_MAX)
        return pk;
    min_max(&lo, &hi, p, n);
    pk.base = lo;
    while (bits < 8 && (unsigned)(hi - lo) >> bits)
        bits++;
    if (n <= PACK_MAX && bits < 8 && 3 + packed_bytes(n, bits) < 1 + n) {
        pk.ok = 1;
        pk.bits = (uint8_t)bits;
        pk.len = 3 + packed_bytes(n, bits);
    }
    return pk;
}

/* The packed form if pk says so, else raw. */
static int put_plain(uint8_t *dst, size_t cap, size_t *pos, const uint8_t *src,
                     size_t n, const pack *pk)
{
    uint64_t acc = 0;
    unsigned have = 0;
    uint8_t *o;
    if (!pk->ok)
        return put_raw(dst, cap, pos, src, n);
    if (cap - *pos < pk->len)
        return ES_NOFIT;
    o = dst + *pos;
    *o++ = ES_TAG_PACK;
    *o++ = pk->base;
    *o++ = pk->bits;
    for (size_t i = 0; i < n; i++) {
        acc |= (uint64_t)(uint8_t)(src[i] - pk->base) << have;
        have += pk->bits;
        if (have >= 8) {
            *o++ = (uint8_t)acc;
            acc >>= 8;
            have -= 8;
        }
    }
    if (have)
        *o = (uint8_t)acc;
    *pos += pk->len;
    return 0;
}

/* Eight values of `bits` bits from the `bits` bytes at p (value k at bit
 * k * bits, little-endian).  Inlined with a constant width, the shifts are
 * constants and the eight values independent, where a bit-by-bit reader
 * is one serial chain through its accumulator. */
static inline __attribute__((always_inline)) void
unpack8(uint8_t *d, const uint8_t *p, unsigned bits, uint8_t base)
{
    uint64_t v = 0;
    memcpy(&v, p, bits); /* little-endian hosts only (see dtype.c) */
#pragma GCC unroll 8
    for (unsigned k = 0; k < 8; k++)
        d[k] = (uint8_t)(base + ((v >> (k * bits)) & ((1u << bits) - 1)));
}

static inline __attribute__((always_inline)) void
unpack_groups(uint8_t *d, const uint8_t *p, size_t groups, unsigned bits,
              uint8_t base)
{
    for (size_t g = 0; g < groups; g++)
        unpack8(d + 8 * g, p + bits * g, bits, base);
}

static int get_packed(uint8_t *dst, size_t n, const uint8_t *src, size_t len,
                      size_t *pos)
{
    uint8_t base, bits, mask;
    uint64_t acc = 0;
    unsigned have = 0;
    const uint8_t *p;
    size_t groups = n / 8, i;
    if (len - *pos < 2)
        return ELVES_E_CORRUPT;
    base = src[*pos];
    bits = src[*pos + 1];
    *pos += 2;
    if (bits == 0 || bits > 7 || n > PACK_MAX ||
        len - *pos < packed_bytes(n, bits))
        return ELVES_E_CORRUPT;
    p = src + *pos;
    switch (bits) { /* whole groups of 8 values = `bits` bytes each */
    case 1:
        unpack_groups(dst, p, groups, 1, base);
        break;
    case 2:
        unpack_groups(dst, p, groups, 2, base);
        break;
    case 3:
        unpack_groups(dst, p, groups, 3, base);
        break;
    case 4:
        unpack_groups(dst, p, groups, 4, base);
        break;
    case 5:
        unpack_groups(dst, p, groups, 5, base);
        break;
    case 6:
        unpack_groups(dst, p, groups, 6, base);
        break;
    default:
        unpack_groups(dst, p, groups, 7, base);
        break;
    }
    p += groups * bits;
    mask = (uint8_t)((1u << bits) - 1);
    for (i = groups * 8; i < n; i++) { /* the last n % 8 values */
        if (have < bits) {
            acc |= (uint64_t)*p++ << have;
            have += 8;
        }
        dst[i] = (uint8_t)(base + (acc & mask));
        acc >>= bits;
        have -= bits;
    }
    *pos += packed_bytes(n, bits);
    return 0;
}

/* ---- zstd forms ------------------------------------------------------------
 *
 * A frame of one compressed block whose content is at most STRIP_MAX bytes
 * is stored without its 2-byte frame header and 3-byte block header (tag
 * ZBLOCK); the decoder puts them back.  Five bytes are nothing on a large
 * stream but a few percent of a small tensor's.
 */
#define FRAME_HEADER 2 /* magicless: descriptor byte, window descriptor */
#define BLOCK_HEADER 3
#define STRIP_MAX 4096
/* The window descriptor the decoder restores: 2^17, enough for any block
 * of STRIP_MAX bytes and any offset within it. */
#define STRIP_WINDOW ((17 - 10) << 3)

/* Content length if the frame f[0..len) is one compressed last block
 * that can be stripped, else 0. */
static size_t strippable(const uint8_t *f, size_t len)
{
    uint32_t bh;
    if (len <= FRAME_HEADER + BLOCK_HEADER ||
        len - FRAME_HEADER - BLOCK_HEADER > STRIP_MAX || f[0] != 0 ||
        f[1] > STRIP_WINDOW)
        return 0;
    bh = (uint32_t)f[2] | (uint32_t)f[3] << 8 | (uint32_t)f[4] << 16;
    if ((bh & 7) != (1 | 2 << 1) ||
        bh >> 3 != len - FRAME_HEADER - BLOCK_HEADER)
        return 0;
    return len - FRAME_HEADER - BLOCK_HEADER;
}

/*
 * The zstd form if it is smaller than beat bytes (tag and length
 * included): 0, or ES_NOFIT when it is not (nothing written), or an error.
 * The frame is written after room for the longest length, then moved up.
 */
static int put_zstd(es_stream_ctx *sc, uint8_t *dst, size_t cap, size_t *pos,
                    const uint8_t *src, size_t n, int level, size_t beat)
{
    size_t room = cap - *pos, clen = 0, zcap, hdr, body;
    uint8_t *frame = dst + *pos + 1 + VARINT_MAX, tag = ES_TAG_ZSTD;
    int rc;
    if (room <= 1 + VARINT_MAX)
        return ES_NOFIT;
    /* Frames up to beat + 2 bytes may still win once stripped. */
    zcap = room - 1 - VARINT_MAX < beat + 2 ? room - 1 - VARINT_MAX : beat + 2;
    rc = es_zstd_frame(sc, &clen, frame, zcap, src, n, level);
    if (rc != 0)
        return rc;
    body = strippable(frame, clen);
    if (body) {
        frame += FRAME_HEADER + BLOCK_HEADER;
        clen = body;
        tag = ES_TAG_ZBLOCK;
    }
    hdr = 1 + varint_len(clen);
    if (hdr + clen >= beat)
        return ES_NOFIT;
    memmove(dst + *pos + hdr, frame, clen);
    dst[*pos] = tag;
    varint_put(dst + *pos + 1, clen);
    *pos += hdr + clen;
    return 0;
}

ES_VECTORIZE static void sub_base(uint8_t *restrict out,
                                  const uint8_t *restrict p, size_t n,
                                  uint8_t base)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(p[i] - base);
}

/*
 * The order-0 form of the stream minus its smallest value (tag BASE): a
 * Huffman table describes the weights of every symbol from 0 up, so
 * exponents (about 100..127) cost a longer table than their offsets.
 */
static int put_based(es_stream_ctx *sc, uint8_t *dst, size_t cap, size_t *pos,
                     const uint8_t *src, size_t n, uint8_t base, size_t beat)
{
    size_t p = *pos + 2;
    uint8_t *tmp;
    int rc;
    if (cap - *pos < 2 + 1 + VARINT_MAX || beat <= 2)
        return ES_NOFIT;
    tmp = malloc(n);
    if (!tmp)
        return ELVES_E_NOMEM;
    sub_base(tmp, src, n, base);
    rc = put_zstd(sc, dst, cap, &p, tmp, n, ES_ENTROPY, beat - 2);
    free(tmp);
    if (rc == 0) {
        dst[*pos] = ES_TAG_BASE;
        dst[*pos + 1] = base;
        *pos = p;
    }
    return rc;
}

/* The zstd form at level if it beats the plain (raw or packed) one. */
static int put_coded(es_stream_ctx *sc, uint8_t *dst, size_t cap, size_t *pos,
                     const uint8_t *src, size_t n, int level, const pack *pk)
{
    int rc = ES_NOFIT;
    if (n > 2 && level == ES_ENTROPY && pk->base > 0)
        rc = put_based(sc, dst, cap, pos, src, n, pk->base, pk->len);
    else if (n > 2)
        rc = put_zstd(sc, dst, cap, pos, src, n, level, pk->len);
    if (rc == ES_NOFIT)
        return put_plain(dst, cap, pos, src, n, pk);
    return rc;
}

/* ES_BEST: the order-0 form in place, then LZ, which replaces it if
 * smaller (written to a side buffer first, since it may not be). */
static int put_best(es_stream_ctx *sc, uint8_t *dst, size_t cap, size_t *pos,
                    const uint8_t *src, size_t n, const pack *pk)
{
    size_t start = *pos, first, alt_pos = 0;
    uint8_t *alt;
    int rc = put_coded(sc, dst, cap, pos, src, n, ES_ENTROPY, pk);
    if (rc != 0)
        return rc;
    first = *pos - start;
    if (first <= 6 || n <= 2)
        return 0;
    alt = malloc(first);
    if (!alt)
        return ELVES_E_NOMEM;
    rc = put_zstd(sc, alt, first, &alt_pos, src, n, ES_BEST_LZ_LEVEL, first);
    if (rc == 0) {
        memcpy(dst + start, alt, alt_pos);
        *pos = start + alt_pos;
    }
    free(alt);
    return rc < 0 ? rc : 0;
}

int es_stream_put(es_stream_ctx *sc, uint8_t *dst, size_t cap, size_t *pos,
                  const uint8_t *src, size_t n, int level)
{
    if (level == ES_ENTROPY_SPLIT) {
        size_t start = *pos;
        int rc = es_stream_put(sc, dst, cap, pos, src, n, ES_ENTROPY);
        return rc ? rc : es_split_try(sc, dst, start, pos, src, n);
    }
    look l = n == 0 ? LOOK_RAW : sample_look(src, n);
    pack pk = {0, 0, 0, 1 + n};
    if (l == LOOK_CONST) {
        if (cap - *pos < 2)
            return ES_NOFIT;
        dst[*pos] = ES_TAG_CONST;
        dst[*pos + 1] = src[0];
        *pos += 2;
        return 0;
    }
    /* A sample near 8 bits a byte rules out a narrow range. */
    if (l == LOOK_CODE)
        pk = pack_plan(src, n);
    /* The order-0 setting is skipped when the sample says it cannot pay;
     * LZ levels are always tried (matches are invisible to the sample). */
    if (n < MIN_CODED || (level == ES_ENTROPY && l == LOOK_RAW))
        return put_plain(dst, cap, pos, src, n, &pk);
    if (level == ES_BEST)
        return put_best(sc, dst, cap, pos, src, n, &pk);
    return put_coded(sc, dst, cap, pos, src, n, level, &pk);
}

/* Rebuilds the frame around a stripped block and decodes it. */
static int get_zblock(es_stream_ctx *sc, uint8_t *dst, size_t n,
                      const uint8_t *body, size_t blen)
{
    uint8_t frame[FRAME_HEADER + BLOCK_HEADER + STRIP_MAX];
    uint32_t bh = 1 | 2 << 1 | (uint32_t)blen << 3;
    if (blen == 0 || blen > STRIP_MAX)
        return ELVES_E_CORRUPT;
    frame[0] = 0;
    frame[1] = STRIP_WINDOW;
    frame[2] = (uint8_t)bh;
    frame[3] = (uint8_t)(bh >> 8);
    frame[4] = (uint8_t)(bh >> 16);
    memcpy(frame + FRAME_HEADER + BLOCK_HEADER, body, blen);
    return es_zstd_unframe(sc, dst, n, frame,
                           FRAME_HEADER + BLOCK_HEADER + blen);
}

static int get_based(es_stream_ctx *sc, uint8_t *dst, size_t n,
                     const uint8_t *src, size_t len, size_t *pos);

int es_stream_get(es_stream_ctx *sc, uint8_t *dst, size_t n, const uint8_t *src,
                  size_t len, size_t *pos)
{
    size_t clen;
    int rc;
    if (*pos >= len)
        return ELVES_E_CORRUPT;
    switch (src[(*pos)++]) {
    case ES_TAG_RAW:
        return es_bytes_get(dst, n, src, len, pos);
    case ES_TAG_CONST:
        if (*pos >= len)
            return ELVES_E_CORRUPT;
        if (n)
            memset(dst, src[*pos], n);
        *pos += 1;
        return 0;
    case ES_TAG_ZSTD:
        rc = es_varint_get(&clen, src, len, pos);
        if (rc != 0 || clen > len - *pos)
            return ELVES_E_CORRUPT;
        rc = es_zstd_unframe(sc, dst, n, src + *pos, clen);
        *pos += clen;
        return rc;
    case ES_TAG_ZBLOCK:
        rc = es_varint_get(&clen, src, len, pos);
        if (rc != 0 || clen > len - *pos)
            return ELVES_E_CORRUPT;
        rc = get_zblock(sc, dst, n, src + *pos, clen);
        *pos += clen;
        return rc;
    case ES_TAG_PACK:
        return get_packed(dst, n, src, len, pos);
    case ES_TAG_BASE:
        return get_based(sc, dst, n, src, len, pos);
    case ES_TAG_SPLIT:
        return es_split_get(sc, dst, n, src, len, pos);
    default:
        return ELVES_E_CORRUPT;
    }
}

ES_VECTORIZE static void add_base(uint8_t *p, size_t n, uint8_t base)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(p[i] + base);
}

/* A BASE stream holds one ZSTD or ZBLOCK stream (never another BASE:
 * no recursion deeper than one). */
static int get_based(es_stream_ctx *sc, uint8_t *dst, size_t n,
                     const uint8_t *src, size_t len, size_t *pos)
{
    uint8_t base;
    int rc;
    if (len - *pos < 2 || n > BASE_MAX ||
        (src[*pos + 1] != ES_TAG_ZSTD && src[*pos + 1] != ES_TAG_ZBLOCK))
        return ELVES_E_CORRUPT;
    base = src[(*pos)++];
    rc = es_stream_get(sc, dst, n, src, len, pos);
    if (rc == 0)
        add_base(dst, n, base);
    return rc;
}

int es_stream_view(es_stream_ctx *sc, const uint8_t **out, uint8_t *buf,
                   size_t n, const uint8_t *src, size_t len, size_t *pos)
{
    if (*pos < len && src[*pos] == ES_TAG_RAW) {
        if (len - *pos - 1 < n)
            return ELVES_E_CORRUPT;
        *out = src + *pos + 1;
        *pos += 1 + n;
        return 0;
    }
    *out = buf;
    return es_stream_get(sc, buf, n, src, len, pos);
}
