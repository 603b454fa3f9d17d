/*
 * codec_zstd.c - the general-purpose codec, for integers, opaque data and
 * headers: one zstd frame (magicless, see stream.c) of the block's bytes.
 * Two settings are tried, the order-0 entropy setting (Huffman literals
 * only) and LZ at level 3, and the smaller is kept (judged on the first
 * 64 KiB of blocks over 64 KiB, on the first 8 KiB of blocks of 16..64 KiB,
 * in full only below 16 KiB); the decoder reads either.  On the 13 shared
 * checkpoints the 8 KiB prefix picks as the full block did except for a
 * 4-byte loss on one file.  On the quantized U8
 * tensors of the shared checkpoints the order-0 frame wins about one block
 * in three, and it costs far less than the LZ pass.
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

/* Both settings into dst/scratch, keeping the smaller: 0, ES_NOFIT, < 0. */
static int encode_both(es_stream_ctx *sc, size_t *out, uint8_t *dst, size_t cap,
                       const uint8_t *src, size_t n)
{
    size_t first = 0, second = 0, room;
    uint8_t *alt;
    int rc = es_zstd_frame(sc, &first, dst, cap, src, n, ES_ENTROPY), rc2;
    if (rc < 0)
        return rc;
    /* The LZ frame must beat the order-0 one (or fit at all). */
    room = rc == 0 ? first - 1 : cap;
    if (room == 0) {
        if (rc == 0)
            *out = first;
        return rc;
    }
    alt = es_scratch(sc, ES_SCRATCH_CODEC, room);
    if (!alt)
        return ELVES_E_NOMEM;
    rc2 = es_zstd_frame(sc, &second, alt, room, src, n, LZ_LEVEL);
    if (rc2 < 0)
        return rc2;
    if (rc2 == 0) {
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
     * on the whole block. */
    t = n > TRIAL ? TRIAL : SMALL_TRIAL;
    ra = es_zstd_frame(sc, &a, dst, cap, src, t, ES_ENTROPY);
    rb = es_zstd_frame(sc, &b, dst, cap, src, t, LZ_LEVEL);
    if (ra < 0 || rb < 0)
        return ra < 0 ? ra : rb;
    return es_zstd_frame(sc, out, dst, cap, src, n,
                         ra == 0 && (rb != 0 || a < b) ? ES_ENTROPY : LZ_LEVEL);
}

int es_zstd_decode(es_stream_ctx *sc, uint8_t *dst, size_t n,
                   const uint8_t *src, size_t len)
{
    return es_zstd_unframe(sc, dst, n, src, len);
}
