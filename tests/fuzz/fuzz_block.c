/*
 * fuzz_block.c - libFuzzer target for the block layer.
 *
 * 1. Hostile decoding: the input is taken as an encoded block and decoded;
 *    elves_block_decode must return an error or data matching the block's
 *    checksum, and never read or write out of bounds (ASan watches).
 * 2. Hostile payloads: a valid header is made up from the first bytes
 *    (codec, dtype, flags, a small raw_len) and the rest is the payload,
 *    so random bytes reach every codec's decoder instead of stopping at
 *    the header checks (they then fail the checksum, at the latest).
 * 3. Round trip: the input's first byte picks a dtype and a codec, the rest
 *    is data; it is encoded, decoded and compared (bit-exact, or within
 *    2^-24 for ELF blocks).  Any mismatch aborts.
 * 4. Delta round trip: the same data coded against a base that differs
 *    from it in a few bits (an XOR block, or alone when that is smaller),
 *    decoded through the base and compared bit-exact.
 * Decoding in 1 and 2 has a base source, so XOR payloads are reached too:
 * it fills the base bytes from their offset.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "elves.h"

#define MAX_DECODE ((size_t)8 << 20)

/* Any fingerprint, any offset: bytes made from the offset. */
static int made_up_base(void *ctx, const elves_fp128 *fp, uint64_t off,
                        uint32_t len, uint8_t *out)
{
    (void)ctx;
    (void)fp;
    for (uint32_t i = 0; i < len; i++)
        out[i] = (uint8_t)((off + i) * 31u >> 3);
    return 0;
}

static const elves_base_src made_up = {made_up_base, NULL, NULL, NULL};

/* One buffer as the base of a delta round trip. */
typedef struct buf_base {
    const uint8_t *p;
    size_t len;
} buf_base;

static int read_buf_base(void *ctx, const elves_fp128 *fp, uint64_t off,
                         uint32_t len, uint8_t *out)
{
    const buf_base *b = ctx;
    (void)fp;
    if (off > b->len || len > b->len - off)
        abort(); /* the encoder recorded offset 0 and raw_len */
    memcpy(out, b->p + off, len);
    return 0;
}

static void hostile_decode(const uint8_t *data, size_t size)
{
    elves_block_info bi;
    size_t got = 0, cap;
    uint8_t *out;
    if (elves_block_info_read(&bi, data, size) != ELVES_OK)
        cap = 64; /* still exercise the error paths */
    else
        cap = bi.raw_len;
    if (cap > MAX_DECODE)
        return;
    out = malloc(cap ? cap : 1);
    if (!out)
        return;
    if (elves_block_decode_base(&got, out, cap, data, size, &made_up, NULL) ==
            ELVES_OK &&
        got != cap)
        abort();
    free(out);
}

static void hostile_payload(const uint8_t *data, size_t size)
{
    uint8_t *blk, *out;
    uint32_t raw, enc;
    size_t got;
    if (size < 6)
        return;
    enc = (uint32_t)(size - 6);
    raw = (uint32_t)(data[3] | data[4] << 8 | (data[5] & 0x3f) << 16);
    blk = malloc(ELVES_BLOCK_HEADER_SIZE + enc);
    out = malloc(raw ? raw : 1);
    if (!blk || !out)
        abort();
    memset(blk, 0, ELVES_BLOCK_HEADER_SIZE);
    blk[0] = ELVES_BLOCK_MAGIC;
    blk[1] = (uint8_t)(data[0] % ELVES_CODEC_COUNT);
    blk[2] = (uint8_t)(data[1] % ELVES_DT_COUNT);
    blk[3] = blk[1] == ELVES_CODEC_ELF ? ELVES_BLOCK_FLAG_LOSSY : 0;
    (void)data[2];
    memcpy(blk + 4, &raw, 4);
    memcpy(blk + 8, &enc, 4);
    memcpy(blk + ELVES_BLOCK_HEADER_SIZE, data + 6, enc);
    if (elves_block_decode_base(&got, out, raw, blk,
                                ELVES_BLOCK_HEADER_SIZE + enc, &made_up,
                                NULL) == ELVES_OK &&
        got != raw)
        abort();
    free(blk);
    free(out);
}

static void check_elf(const uint8_t *src, const uint8_t *out, size_t len)
{
    for (size_t i = 0; i + 4 <= len; i += 4) {
        float a, b;
        memcpy(&a, src + i, 4);
        memcpy(&b, out + i, 4);
        if (memcmp(src + i, out + i, 4) != 0 &&
            !(fabs((double)a - (double)b) <= 0x1p-24))
            abort();
    }
    if (memcmp(src + len / 4 * 4, out + len / 4 * 4, len % 4) != 0)
        abort();
}

static void roundtrip(const uint8_t *data, size_t size)
{
    elves_dtype dt;
    elves_codec codec;
    const uint8_t *src = data + 1;
    size_t len = size - 1, cap = elves_block_bound(len), enc = 0, got = 0;
    uint8_t *blk, *out;
    elves_block_info bi;
    dt = (elves_dtype)(data[0] % ELVES_DT_COUNT);
    codec = (elves_codec)((data[0] / ELVES_DT_COUNT) % ELVES_CODEC_COUNT);
    blk = malloc(cap);
    out = malloc(len ? len : 1);
    if (!blk || !out)
        abort();
    if (elves_block_encode(&enc, blk, cap, src, len, dt, codec, NULL) !=
            ELVES_OK ||
        elves_block_info_read(&bi, blk, enc) != ELVES_OK ||
        elves_block_decode(&got, out, len, blk, enc, NULL) != ELVES_OK ||
        got != len)
        abort();
    if (bi.flags & ELVES_BLOCK_FLAG_LOSSY)
        check_elf(src, out, len);
    else if (len && memcmp(src, out, len) != 0)
        abort();
    free(blk);
    free(out);
}

static void delta_roundtrip(const uint8_t *data, size_t size)
{
    elves_dtype dt = (elves_dtype)(data[0] % ELVES_DT_COUNT);
    elves_codec codec =
        (elves_codec)((data[0] / ELVES_DT_COUNT) % ELVES_CODEC_COUNT);
    const uint8_t *src = data + 1;
    size_t len = size - 1, cap = elves_block_bound(len), enc = 0, got = 0;
    uint8_t *blk = malloc(cap), *out = malloc(len ? len : 1);
    uint8_t *base = malloc(len ? len : 1);
    elves_delta d = {{{0}}, 0, base};
    buf_base bb = {base, len};
    elves_base_src src_base = {read_buf_base, NULL, &bb, NULL};
    if (!blk || !out || !base)
        abort();
    for (size_t i = 0; i < len; i++)
        base[i] = src[i] ^ (i % 13 == 0 ? data[0] : 0);
    if (elves_block_encode_delta(&enc, blk, cap, src, len, dt, codec, &d,
                                 NULL) != ELVES_OK ||
        elves_block_decode_base(&got, out, len, blk, enc, &src_base, NULL) !=
            ELVES_OK ||
        got != len)
        abort();
    if (blk[3] & ELVES_BLOCK_FLAG_LOSSY)
        check_elf(src, out, len);
    else if (len && memcmp(src, out, len) != 0)
        abort();
    free(blk);
    free(out);
    free(base);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hostile_decode(data, size);
    hostile_payload(data, size);
    if (size >= 1 && size - 1 <= ELVES_MAX_BLOCK_SIZE) {
        roundtrip(data, size);
        delta_roundtrip(data, size);
    }
    return 0;
}
