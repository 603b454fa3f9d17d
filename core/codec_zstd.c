/*
 * codec_zstd.c - the general-purpose codec, for integers, opaque data and
 * headers: one zstd frame (magicless, see stream.c) of the block's bytes.
 * Two settings compete, the order-0 entropy setting (Huffman literals
 * only) and LZ at level 3, and the smaller is kept (judged on the first
 * 64 KiB of blocks over 64 KiB, on the first 8 KiB of blocks of 16..64 KiB,
 * in full only below 16 KiB); the decoder reads either.  On the 13 shared
 * checkpoints the 8 KiB prefix picks as the full block did except for a
 * 4-byte loss on one file.
 *
 * LZ runs first: when its frame holds no match at all (no sequences), it
 * is a literals-only frame, which is what the order-0 setting would write
 * too, so that setting is not run.  On the quantized U8 tensors of the
 * shared checkpoints 150 of 155 tensors have no match worth taking, and
 * the second pass was half of their encode time.
 */
#include "codecs.h"
#include "internal.h"

/* zstd's default level for every size: on the shared checkpoints (U8
 * tensors, headers, small integer tensors) levels 6, 9, 12 and 19 on
 * blocks under 64 KiB gained at most 0.2% over level 3 at 2x to 30x the
 * encode time (bench_codecs, ZSTD-codec row). */
#define LZ_LEVEL 3
/* Blocks above this choose between the two settings on their first TRIAL
 * bytes instead of running both in full (which cost 40% of the speed). */
#define TRIAL ((size_t)64 << 10)
/* Blocks above SMALL_MIN (and up to TRIAL) choose on their first
 * SMALL_TRIAL bytes: running both settings in full was 52-65% of encode
 * time on the faceapi U8 checkpoints. */
#define SMALL_MIN ((size_t)16 << 10)
#define SMALL_TRIAL ((size_t)8 << 10)

/* The order-0 run is skipped only on blocks of at least SKIP_MIN bytes
 * that LZ compressed less than SKIP_RATIO times: on tiny or very
 * compressible blocks the two literals-only frames can differ by a few
 * bytes (a 288-byte U8 tensor: 29 vs 34), and there the run is cheap. */
#define SKIP_MIN ((size_t)2 << 10)
#define SKIP_RATIO 4

/* Length of the frame header of a magicless frame (RFC 8878 3.1.1.1),
 * or 0 if it does not fit in len. */
static size_t frame_header_len(const uint8_t *f, size_t len)
{
    static const uint8_t did[4] = {0, 1, 2, 4}, fcs[4] = {0, 2, 4, 8};
    unsigned fhd, single, fcs_flag;
    size_t h;

    if (len < 1)
        return 0;
    fhd = f[0];
    single = (fhd >> 5) & 1;
    fcs_flag = fhd >> 6;
    h = 1 + !single + did[fhd & 3] + (fcs_flag == 0 ? single : fcs[fcs_flag]);
    return h <= len ? h : 0;
}

/* Bytes of the literals section at b[0..len) of a compressed block
 * (RFC 8878 3.1.1.3.1), or 0 if it does not parse. */
static size_t literals_len(const uint8_t *b, size_t len)
{
    unsigned type = b[0] & 3, sf = (b[0] >> 2) & 3;
    uint64_t h = 0;
    size_t hsize, body;

    if (type <= 1) { /* raw or RLE: the regenerated size only */
        hsize = sf == 1 ? 2 : sf == 3 ? 3 : 1;
        if (hsize > len)
            return 0;
        size_t regen = hsize == 1 ? (size_t)(b[0] >> 3)
                       : hsize == 2
                           ? (size_t)(b[0] >> 4) + ((size_t)b[1] << 4)
                           : (size_t)(b[0] >> 4) + ((size_t)b[1] << 4) +
                                 ((size_t)b[2] << 12);
        body = type == 0 ? regen : 1;
    } else { /* Huffman: regenerated and compressed sizes, same width */
        static const unsigned bits[4] = {10, 10, 14, 18};
        hsize = sf <= 1 ? 3 : sf == 2 ? 4 : 5;
        if (hsize > len)
            return 0;
        for (size_t i = 0; i < hsize; i++)
            h |= (uint64_t)b[i] << (8 * i);
        body = (size_t)(h >> (4 + bits[sf])) & (((size_t)1 << bits[sf]) - 1);
    }
    return hsize + body <= len ? hsize + body : 0;
}

/* Whether a frame we just wrote holds any sequence (a match); 1 when in
 * doubt, which only costs the second setting's run. */
static int frame_has_matches(const uint8_t *f, size_t len)
{
    size_t pos = frame_header_len(f, len);

    if (pos == 0)
        return 1;
    for (;;) {
        if (len - pos < 3)
            return 1;
        uint32_t bh =
            f[pos] | (uint32_t)f[pos + 1] << 8 | (uint32_t)f[pos + 2] << 16;
        unsigned type = (bh >> 1) & 3;
        size_t size = bh >> 3;
        pos += 3;
        if (type == 1)
            size = 1; /* RLE: one byte repeated */
        if (size > len - pos || type == 3)
            return 1;
        if (type == 2) {
            size_t lit = size ? literals_len(f + pos, size) : 0;
            /* The sequences header follows: a first byte of 0 is none. */
            if (lit == 0 || lit >= size || f[pos + lit] != 0)
                return 1;
        }
        pos += size;
        if (bh & 1)
            return 0;
    }
}

/* LZ into dst, then the order-0 setting only if LZ found matches (or did
 * not fit), keeping the smaller: 0, ES_NOFIT, < 0. */
static int encode_both(es_stream_ctx *sc, size_t *out, uint8_t *dst, size_t cap,
                       const uint8_t *src, size_t n)
{
    size_t first = 0, second = 0;
    uint8_t *alt;
    int rc = es_zstd_frame(sc, &first, dst, cap, src, n, LZ_LEVEL), rc2;
    if (rc < 0)
        return rc;
    if (rc == 0 && !frame_has_matches(dst, first)) {
        *out = first;
        return 0;
    }
    /* The order-0 frame gets the whole capacity: zstd refuses a capacity
     * near the frame's size (9 bytes did not fit in 13), so a tighter one
     * would lose frames that win. */
    alt = es_scratch(sc, ES_SCRATCH_CODEC, cap);
    if (!alt)
        return ELVES_E_NOMEM;
    rc2 = es_zstd_frame(sc, &second, alt, cap, src, n, ES_ENTROPY);
    if (rc2 < 0)
        return rc2;
    if (rc2 == 0 && (rc != 0 || second < first)) {
        memcpy(dst, alt, second);
        first = second;
        rc = 0;
    }
    if (rc == 0)
        *out = first;
    return rc;
}

int es_zstd_encode(es_stream_ctx *sc, size_t *out, uint8_t *dst, size_t cap,
                   const uint8_t *src, size_t n)
{
    size_t a = 0, b = 0, t;
    int ra, rb;
    if (n <= SMALL_MIN)
        return encode_both(sc, out, dst, cap, src, n);
    /* Larger blocks: pick the setting on a prefix, then run only that one
     * on the whole block.  An LZ prefix without matches ties with the
     * order-0 one, and ties go to LZ. */
    t = n > TRIAL ? TRIAL : SMALL_TRIAL;
    rb = es_zstd_frame(sc, &b, dst, cap, src, t, LZ_LEVEL);
    if (rb < 0)
        return rb;
    if (rb == 0 && !frame_has_matches(dst, b))
        return es_zstd_frame(sc, out, dst, cap, src, n, LZ_LEVEL);
    ra = es_zstd_frame(sc, &a, dst, cap, src, t, ES_ENTROPY);
    if (ra < 0)
        return ra;
    return es_zstd_frame(sc, out, dst, cap, src, n,
                         ra == 0 && (rb != 0 || a < b) ? ES_ENTROPY : LZ_LEVEL);
}

int es_zstd_decode(es_stream_ctx *sc, uint8_t *dst, size_t n,
                   const uint8_t *src, size_t len)
{
    return es_zstd_unframe(sc, dst, n, src, len);
}
