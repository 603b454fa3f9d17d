/*
 * stream.h - the entropy stage shared by the codecs (internal).
 *
 * A codec separates its input into byte streams whose decoded lengths it
 * knows (exponent bytes, mantissa planes, indices) and writes each one with
 * es_stream_put.  A stream is stored as one of:
 *   u8 tag 0 (RAW)    then the n bytes as they are
 *   u8 tag 1 (CONST)  then the one byte every position holds
 *   u8 tag 2 (ZSTD)   then clen (LEB128, at most 4 bytes), then a zstd
 *                     frame of clen bytes (magicless, no content size)
 *   u8 tag 3 (PACK)   then u8 base, u8 bits (1..7), then the n values
 *                     minus base in bits bits each, LSB first, in
 *                     ceil(n * bits / 8) bytes (streams of <= 4096 bytes)
 *   u8 tag 4 (ZBLOCK) then blen (LEB128), then the content of the one
 *                     compressed block of a ZSTD frame, without the frame
 *                     and block headers (blen <= 4096)
 *   u8 tag 5 (BASE)   then u8 base, then a ZSTD or ZBLOCK stream of the
 *                     n values minus base (n <= 16384)
 *   u8 tag 6 (SPLIT)  the stream in groups of 32 bytes, each sent by a
 *                     selector to one of 2..8 parts coded on their own
 *                     (n <= 65536; stream_split.c)
 * whichever is smallest.  The ZSTD form is used either as a plain order-0
 * entropy coder (Huffman literals, match search mostly skipped: ES_ENTROPY)
 * or as a full LZ coder at a given level (level > 0).
 */
#ifndef ELVES_STREAM_H
#define ELVES_STREAM_H

#include <stddef.h>
#include <stdint.h>

/* Per-call (or per-thread) zstd contexts and scratch buffers, created on
 * first use and kept for the next block. */
typedef struct es_stream_ctx {
    /* [0] keeps the order-0 setting, [1] an LZ level: switching one
     * context between them would reallocate its tables every time. */
    struct ZSTD_CCtx_s *cctx[2];
    int cctx_level[2]; /* parameter set loaded; 0 = none yet */
    struct ZSTD_DCtx_s *dctx;
    uint8_t *scratch[4];
    size_t scratch_cap[4];
    int segment_busy; /* the segment slot is in use (a sink may nest) */
} es_stream_ctx;

/* Scratch slots: one for a codec's planes, one for the block layer, one
 * for the encoded blocks of a segment in flight (elves_encode_segment on
 * the calling thread; kept between segments, not trimmed per block), one
 * for the block a delta encode compares with (block.c). */
enum {
    ES_SCRATCH_CODEC = 0,
    ES_SCRATCH_BLOCK = 1,
    ES_SCRATCH_SEGMENT = 2,
    ES_SCRATCH_DELTA = 3
};
#define ES_SCRATCH_SLOTS 4
/* Scratch larger than this is released after each block, not kept. */
#define ES_SCRATCH_KEEP ((size_t)4 << 20)
/* The segment slot is kept up to this size (two batches of two default
 * blocks: two threads), released by es_stream_ctx_trim_segment above. */
#define ES_SCRATCH_KEEP_SEGMENT ((size_t)4 * ((1 << 20) + 64))

/* Level values: the order-0 entropy coder setting, and "the smaller of
 * that and LZ at ES_BEST_LZ_LEVEL" (for streams with runs: indices). */
#define ES_ENTROPY (-1000)
#define ES_BEST (-1001)
/* The order-0 setting, or the SPLIT form when it is smaller (for the
 * exponent planes of floats). */
#define ES_ENTROPY_SPLIT (-1002)
#define ES_BEST_LZ_LEVEL 3

/* Returned by encoders when the output would not fit in the capacity. */
#define ES_NOFIT 1

enum {
    ES_TAG_RAW = 0,
    ES_TAG_CONST = 1,
    ES_TAG_ZSTD = 2,
    ES_TAG_PACK = 3,
    ES_TAG_ZBLOCK = 4,
    ES_TAG_BASE = 5,
    ES_TAG_SPLIT = 6
};

void es_stream_ctx_init(es_stream_ctx *sc);
void es_stream_ctx_free(es_stream_ctx *sc);
/* Frees codec and block scratch larger than ES_SCRATCH_KEEP. */
void es_stream_ctx_trim(es_stream_ctx *sc);
/* Frees the segment slot if larger than ES_SCRATCH_KEEP_SEGMENT. */
void es_stream_ctx_trim_segment(es_stream_ctx *sc);
/* A buffer of at least size bytes (contents undefined), or NULL. */
uint8_t *es_scratch(es_stream_ctx *sc, int slot, size_t size);

/* Compresses src[0..n) as one zstd frame at `level` (or ES_ENTROPY) into
 * dst[0..cap).  Returns 0 and the frame size in *out, ES_NOFIT if it does
 * not fit, ELVES_E_NOMEM. */
int es_zstd_frame(es_stream_ctx *sc, size_t *out, uint8_t *dst, size_t cap,
                  const uint8_t *src, size_t n, int level);

/* Decodes a zstd frame that must give exactly n bytes.  0 or
 * ELVES_E_CORRUPT / ELVES_E_NOMEM. */
int es_zstd_unframe(es_stream_ctx *sc, uint8_t *dst, size_t n,
                    const uint8_t *src, size_t len);

/* Appends stream src[0..n) at dst[*pos], never writing at or past cap.
 * Returns 0 (and advances *pos), ES_NOFIT, or ELVES_E_NOMEM. */
int es_stream_put(es_stream_ctx *sc, uint8_t *dst, size_t cap, size_t *pos,
                  const uint8_t *src, size_t n, int level);

/* Reads one stream of exactly n decoded bytes from src[*pos..len) into dst,
 * advancing *pos.  Returns 0, ELVES_E_CORRUPT or ELVES_E_NOMEM. */
int es_stream_get(es_stream_ctx *sc, uint8_t *dst, size_t n, const uint8_t *src,
                  size_t len, size_t *pos);

/* Like es_stream_get, but a RAW stream is not copied: *out points into
 * src.  Other forms are decoded into buf (n bytes) and *out = buf. */
int es_stream_view(es_stream_ctx *sc, const uint8_t **out, uint8_t *buf,
                   size_t n, const uint8_t *src, size_t len, size_t *pos);

/* stream_split.c: replaces the stream written at dst[start..*pos) by its
 * SPLIT form if that is smaller (0, or an error), and reads a SPLIT
 * stream whose tag byte has been consumed. */
int es_split_try(es_stream_ctx *sc, uint8_t *dst, size_t start, size_t *pos,
                 const uint8_t *p, size_t n);
int es_split_get(es_stream_ctx *sc, uint8_t *dst, size_t n,
                 const uint8_t *src, size_t len, size_t *pos);

/* Appends n bytes as they are (no tag): tails and tables. */
int es_bytes_put(uint8_t *dst, size_t cap, size_t *pos, const uint8_t *src,
                 size_t n);
/* Reads n bytes as they are. 0 or ELVES_E_CORRUPT. */
int es_bytes_get(uint8_t *dst, size_t n, const uint8_t *src, size_t len,
                 size_t *pos);

/* LEB128 of v < 2^28 (at most 4 bytes) at dst[*pos].  0 or ES_NOFIT. */
int es_varint_put(uint8_t *dst, size_t cap, size_t *pos, size_t v);
/* Reads one LEB128 value of at most 4 bytes.  0 or ELVES_E_CORRUPT. */
int es_varint_get(size_t *out, const uint8_t *src, size_t len, size_t *pos);

#endif /* ELVES_STREAM_H */
