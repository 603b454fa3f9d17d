/*
 * test_codecs.c - the block format and every codec: bit-exact round trips
 * for every codec x dtype on edge values (signed zeros, denormals, +-1,
 * values just below 1, NaN payloads, infinities), empty and odd-length
 * blocks, sizes around boundaries, constant and incompressible data (RAW
 * fallback); header validation; hostile blocks (truncations at every
 * length, bit flips) that must give an error or the right bytes, never a
 * crash; the codec chooser and entropy bounds; concurrent use from several
 * threads; and round trips of every tensor of the shared real checkpoints.
 */
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "elves.h"
#include "stream.h" /* the stream forms, tested directly below */
#include "test_files.h"

/* ---- helpers ------------------------------------------------------------ */

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static double gauss(void)
{
    double u = ((rng() >> 11) + 1.0) * 0x1p-53, v = (rng() >> 11) * 0x1p-53;
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    assert_non_null(p);
    return p;
}

static size_t dtype_size(elves_dtype dt)
{
    unsigned bits = elves_dtype_bits(dt);
    return bits >= 8 ? bits / 8 : 1;
}

/* Encodes src as one block with codec, decodes it, and checks the bytes
 * (exactly, or within 2^-24 for ELF blocks).  Returns the codec used. */
static elves_codec roundtrip(const uint8_t *src, size_t len, elves_dtype dt,
                             elves_codec codec, size_t *enc_out)
{
    size_t cap = elves_block_bound(len), enc = 0, got = 0;
    uint8_t *blk = xmalloc(cap), *out = xmalloc(len);
    elves_block_info bi;
    elves_error err = {0};
    int rc = elves_block_encode(&enc, blk, cap, src, len, dt, codec, &err);
    if (rc != ELVES_OK)
        fail_msg("encode %s/%s len %zu: %s", elves_codec_name(codec),
                 elves_dtype_name(dt), len, err.msg);
    assert_true(enc <= cap);
    assert_int_equal(elves_block_info_read(&bi, blk, enc), ELVES_OK);
    assert_int_equal(bi.raw_len, len);
    assert_int_equal(bi.enc_len + ELVES_BLOCK_HEADER_SIZE, enc);
    assert_int_equal(bi.dtype, dt);
    if (bi.codec != ELVES_CODEC_RAW)
        assert_true(bi.enc_len < len);
    rc = elves_block_decode(&got, out, len, blk, enc, &err);
    if (rc != ELVES_OK)
        fail_msg("decode %s/%s len %zu: %s", elves_codec_name(bi.codec),
                 elves_dtype_name(dt), len, err.msg);
    assert_int_equal(got, len);
    if (bi.flags & ELVES_BLOCK_FLAG_LOSSY) {
        assert_int_equal(bi.codec, ELVES_CODEC_ELF);
        for (size_t i = 0; i + 4 <= len; i += 4) {
            float a, b;
            memcpy(&a, src + i, 4);
            memcpy(&b, out + i, 4);
            if (memcmp(src + i, out + i, 4) != 0 &&
                !(fabs((double)a - (double)b) <= 0x1p-24))
                fail_msg("ELF value %zu: %a -> %a", i / 4, a, b);
        }
        assert_memory_equal(src + len / 4 * 4, out + len / 4 * 4, len % 4);
    } else if (len && memcmp(src, out, len) != 0) {
        fail_msg("mismatch %s(%s)/%s len %zu", elves_codec_name(bi.codec),
                 elves_codec_name(codec), elves_dtype_name(dt), len);
    }
    if (enc_out)
        *enc_out = enc;
    free(blk);
    free(out);
    return bi.codec;
}

/* Edge bit patterns per element size, mixed into test data. */
static const uint16_t edge16[] = {
    0x0000, 0x8000, 0x0001, 0x8001, 0x03ff, 0x83ff, /* F16 zeros, denormals */
    0x3c00, 0xbc00, 0x3bff, 0xbbff, 0x3bfe,         /* F16 +-1, below 1 */
    0x7c00, 0xfc00, 0x7e00, 0x7c01, 0xfe5a, 0x7fff, /* F16 Inf, NaNs */
    0x3f80, 0xbf80, 0x3f7f, 0x3f7e, 0x0040, 0x807f, /* BF16 +-1, below 1 */
    0x7f80, 0xff80, 0x7fc0, 0x7f81, 0xffa5,         /* BF16 Inf, NaNs */
};
static const uint32_t edge32[] = {
    0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x007fffff, 0x807fffff,
    0x00800000, 0x3f800000, 0xbf800000, 0x3f7fffff, 0xbf7fffff, 0x3f7ffffe,
    0xbf7ffffe, 0x3f7ffffd, 0xbf7ffffd, 0x33800000, 0x33800001, 0x337fffff,
    0x34000000, 0x3effffff, 0x7f800000, 0xff800000, 0x7fc00000, 0x7fc00001,
    0xffa5a5a5, 0x7f800001, 0x7f7fffff, 0xff7fffff, 0x40000000, 0x3f000000,
};
static const uint64_t edge64[] = {
    0x0000000000000000ull, 0x8000000000000000ull, 0x0000000000000001ull,
    0x800fffffffffffffull, 0x3ff0000000000000ull, 0xbff0000000000000ull,
    0x3fefffffffffffffull, 0x7ff0000000000000ull, 0xfff0000000000000ull,
    0x7ff8000000000001ull, 0xfff4a5a5a5a5a5a5ull, 0x7fefffffffffffffull,
};

typedef enum {
    PAT_EDGE,   /* edge patterns mixed with small gaussians */
    PAT_GAUSS,  /* gaussian weights */
    PAT_ZERO,   /* all zero */
    PAT_CONST,  /* one repeated non-zero element */
    PAT_RANDOM, /* random bytes */
    PAT_FEW,    /* few distinct elements */
    PAT_COUNT
} pattern;

static void put_elem(uint8_t *p, size_t esz, uint64_t v)
{
    memcpy(p, &v, esz); /* little-endian host */
}

static uint64_t gauss_bits(size_t esz, double scale)
{
    double g = gauss() * scale;
    float f = (float)g;
    uint32_t b;
    memcpy(&b, &f, 4);
    if (esz == 8) {
        uint64_t d;
        memcpy(&d, &g, 8);
        return d;
    }
    if (esz == 2)
        return (b + 0x7fff + ((b >> 16) & 1)) >> 16; /* BF16-ish */
    if (esz == 1)
        return (uint8_t)(g * 40);
    return b;
}

static uint8_t *make_data(size_t len, size_t esz, pattern pat)
{
    uint8_t *d = xmalloc(len);
    uint8_t e[8];
    uint64_t few[5];
    for (int j = 0; j < 5; j++)
        few[j] = gauss_bits(esz, 0.05);
    put_elem(e, 8, rng());
    for (size_t i = 0; i < len; i += esz) {
        uint8_t tmp[8];
        uint64_t v;
        switch (pat) {
        case PAT_EDGE:
            if (rng() % 3 == 0)
                v = gauss_bits(esz, 0.02);
            else if (esz == 2)
                v = edge16[rng() % (sizeof edge16 / sizeof edge16[0])];
            else if (esz == 4)
                v = edge32[rng() % (sizeof edge32 / sizeof edge32[0])];
            else if (esz == 8)
                v = edge64[rng() % (sizeof edge64 / sizeof edge64[0])];
            else
                v = rng();
            break;
        case PAT_GAUSS:
            v = gauss_bits(esz, 0.02);
            break;
        case PAT_ZERO:
            v = 0;
            break;
        case PAT_CONST:
            memcpy(&v, e, 8);
            break;
        case PAT_RANDOM:
            v = rng();
            break;
        default:
            v = few[rng() % 5];
            break;
        }
        put_elem(tmp, 8, v);
        memcpy(d + i, tmp, len - i < esz ? len - i : esz);
    }
    return d;
}

/* ---- round trips -----------------------------------------------------------
 */

static const size_t sizes[] = {
    0,  1,  2,   3,   4,   5,   7,    8,    9,    15,   16,    17,    31,   63,
    64, 65, 127, 255, 256, 257, 1000, 1023, 4099, 8192, 65535, 65536, 65537};

static void test_every_codec_dtype(void **state)
{
    (void)state;
    for (int dt = 0; dt < ELVES_DT_COUNT; dt++) {
        size_t esz = dtype_size((elves_dtype)dt);
        for (int c = 0; c < ELVES_CODEC_COUNT; c++)
            for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
                for (int p = 0; p < PAT_COUNT; p++) {
                    uint8_t *d = make_data(sizes[s], esz, (pattern)p);
                    roundtrip(d, sizes[s], (elves_dtype)dt, (elves_codec)c,
                              NULL);
                    free(d);
                }
    }
}

static void test_odd_lengths_f32(void **state)
{
    (void)state;
    for (size_t len = 1; len <= 67; len += 2)
        for (int c = 0; c < ELVES_CODEC_COUNT; c++) {
            uint8_t *d = make_data(len * 4099 % 70001, 4, PAT_EDGE);
            roundtrip(d, len * 4099 % 70001, ELVES_DT_F32, (elves_codec)c,
                      NULL);
            free(d);
        }
}

static void test_all_edges_exact(void **state)
{
    /* Every edge pattern, alone and repeated, through FLOAT and DICT. */
    uint8_t buf[4096];
    (void)state;
    for (size_t i = 0; i < sizeof edge32 / sizeof edge32[0]; i++) {
        for (size_t j = 0; j < sizeof buf / 4; j++)
            memcpy(buf + 4 * j,
                   &edge32[(i + j * (j % 3 == 0)) %
                           (sizeof edge32 / sizeof edge32[0])],
                   4);
        for (int c = 0; c < ELVES_CODEC_COUNT; c++)
            roundtrip(buf, sizeof buf, ELVES_DT_F32, (elves_codec)c, NULL);
    }
    for (size_t i = 0; i < sizeof edge16 / sizeof edge16[0]; i++) {
        for (size_t j = 0; j < sizeof buf / 2; j++)
            memcpy(buf + 2 * j,
                   &edge16[(i + j * (j % 5 == 0)) %
                           (sizeof edge16 / sizeof edge16[0])],
                   2);
        roundtrip(buf, sizeof buf, ELVES_DT_F16, ELVES_CODEC_FLOAT, NULL);
        roundtrip(buf, sizeof buf, ELVES_DT_BF16, ELVES_CODEC_FLOAT, NULL);
        roundtrip(buf, sizeof buf, ELVES_DT_BF16, ELVES_CODEC_DICT, NULL);
    }
    for (size_t j = 0; j < sizeof buf / 8; j++)
        memcpy(buf + 8 * j, &edge64[j % (sizeof edge64 / sizeof edge64[0])], 8);
    roundtrip(buf, sizeof buf, ELVES_DT_F64, ELVES_CODEC_FLOAT, NULL);
    roundtrip(buf, sizeof buf, ELVES_DT_F64, ELVES_CODEC_DICT, NULL);
}

static void test_big_blocks(void **state)
{
    static const size_t big[] = {(1u << 20) - 1, 1u << 20, (1u << 20) + 3,
                                 (4u << 20) + 1};
    static const elves_dtype dts[] = {ELVES_DT_F32, ELVES_DT_BF16, ELVES_DT_F16,
                                      ELVES_DT_F64};
    (void)state;
    for (size_t s = 0; s < 4; s++)
        for (size_t t = 0; t < 4; t++) {
            uint8_t *d = make_data(big[s], dtype_size(dts[t]), PAT_GAUSS);
            size_t enc;
            elves_codec used =
                roundtrip(d, big[s], dts[t], ELVES_CODEC_FLOAT, &enc);
            assert_int_equal(used, ELVES_CODEC_FLOAT);
            assert_true(enc < big[s]);
            if (dts[t] == ELVES_DT_F32)
                roundtrip(d, big[s], dts[t], ELVES_CODEC_ELF, NULL);
            free(d);
        }
}

static void test_max_block(void **state)
{
    size_t len = ELVES_MAX_BLOCK_SIZE, cap = elves_block_bound(len) - 1, enc;
    uint8_t *d = calloc(1, len + 1), *blk = xmalloc(cap + 1);
    (void)state;
    assert_non_null(d);
    roundtrip(d, len, ELVES_DT_F32, ELVES_CODEC_FLOAT, NULL);
    assert_int_equal(elves_block_encode(&enc, blk, cap + 1, d, len + 1,
                                        ELVES_DT_F32, ELVES_CODEC_FLOAT, NULL),
                     ELVES_E_INVALID);
    assert_int_equal(elves_block_encode(&enc, blk, cap, d, len, ELVES_DT_F32,
                                        ELVES_CODEC_FLOAT, NULL),
                     ELVES_E_SMALL);
    free(d);
    free(blk);
}

static void test_fallbacks(void **state)
{
    uint8_t *rnd = make_data(70000, 1, PAT_RANDOM);
    uint8_t *ints = make_data(70000, 4, PAT_GAUSS);
    (void)state;
    /* Incompressible: every lossless codec ends as RAW (ELF still drops
     * the exponent of the random words that are below 1). */
    for (int c = 0; c < ELVES_CODEC_COUNT; c++)
        if (c != ELVES_CODEC_ELF)
            assert_int_equal(
                roundtrip(rnd, 70000, ELVES_DT_F32, (elves_codec)c, NULL),
                ELVES_CODEC_RAW);
    /* Codecs that do not apply to the dtype fall back to ZSTD. */
    for (size_t i = 0; i < 70000; i++)
        ints[i] = (uint8_t)(i % 251 == 0 ? i : 0);
    assert_int_equal(
        roundtrip(ints, 70000, ELVES_DT_I32, ELVES_CODEC_FLOAT, NULL),
        ELVES_CODEC_ZSTD);
    assert_int_equal(roundtrip(ints, 70000, ELVES_DT_BF16, ELVES_CODEC_ELF,
                               NULL) != ELVES_CODEC_ELF,
                     1);
    free(rnd);
    free(ints);
}

/* ---- header and hostile input
 * ------------------------------------------------- */

static uint8_t *encode_block(size_t *enc, const uint8_t *src, size_t len,
                             elves_dtype dt, elves_codec c)
{
    size_t cap = elves_block_bound(len);
    uint8_t *blk = xmalloc(cap);
    assert_int_equal(elves_block_encode(enc, blk, cap, src, len, dt, c, NULL),
                     ELVES_OK);
    return blk;
}

static void test_header(void **state)
{
    uint8_t *d = make_data(4096, 4, PAT_GAUSS), out[4096];
    size_t enc, got;
    uint8_t *blk = encode_block(&enc, d, 4096, ELVES_DT_F32, ELVES_CODEC_FLOAT);
    elves_block_info bi;
    elves_error err = {0};
    (void)state;
    assert_int_equal(blk[0], ELVES_BLOCK_MAGIC);
    assert_int_equal(elves_block_info_read(&bi, blk, enc), ELVES_OK);
    assert_int_equal(bi.codec, ELVES_CODEC_FLOAT);
    assert_int_equal(bi.flags, 0);
    assert_int_equal(elves_block_info_read(&bi, blk, enc - 1), ELVES_E_CORRUPT);
    assert_int_equal(elves_block_decode(&got, out, 4095, blk, enc, &err),
                     ELVES_E_SMALL);
    blk[0] ^= 1;
    assert_int_equal(elves_block_info_read(&bi, blk, enc), ELVES_E_CORRUPT);
    blk[0] ^= 1;
    blk[1] = ELVES_CODEC_COUNT;
    assert_int_equal(elves_block_info_read(&bi, blk, enc), ELVES_E_UNSUPPORTED);
    blk[1] = ELVES_CODEC_FLOAT;
    blk[2] = ELVES_DT_I32; /* FLOAT is never written for integers */
    assert_int_equal(elves_block_info_read(&bi, blk, enc), ELVES_E_CORRUPT);
    blk[2] = ELVES_DT_F32;
    blk[3] = ELVES_BLOCK_FLAG_LOSSY; /* only ELF blocks are lossy */
    assert_int_equal(elves_block_info_read(&bi, blk, enc), ELVES_E_CORRUPT);
    blk[3] = 0;
    blk[12] ^= 0x40; /* checksum */
    assert_int_equal(elves_block_decode(&got, out, 4096, blk, enc, &err),
                     ELVES_E_CORRUPT);
    assert_non_null(strstr(err.msg, "checksum"));
    assert_string_equal(elves_codec_name(ELVES_CODEC_ELF), "elf");
    assert_string_equal(elves_codec_name(ELVES_CODEC_COUNT), "unknown");
    assert_int_equal(elves_block_bound(0), ELVES_BLOCK_HEADER_SIZE);
    free(blk);
    free(d);
}

/* Decoding must give an error or exactly the original, never crash. */
static void decode_hostile(const uint8_t *blk, size_t len, const uint8_t *orig,
                           size_t raw_len)
{
    uint8_t *out = xmalloc(raw_len + 16);
    size_t got = 0;
    int rc = elves_block_decode(&got, out, raw_len + 16, blk, len, NULL);
    if (rc == ELVES_OK) {
        elves_block_info bi;
        assert_int_equal(elves_block_info_read(&bi, blk, len), ELVES_OK);
        if (!(bi.flags & ELVES_BLOCK_FLAG_LOSSY)) {
            assert_int_equal(got, raw_len);
            assert_memory_equal(out, orig, raw_len);
        }
    } else {
        assert_true(rc < 0);
    }
    free(out);
}

static void hostile_suite(const uint8_t *src, size_t len, elves_dtype dt,
                          elves_codec c, size_t flips)
{
    size_t enc;
    uint8_t *blk = encode_block(&enc, src, len, dt, c);
    uint8_t *cp = xmalloc(enc);
    /* Truncation at every length, as is and with enc_len patched to fit,
     * so that the codec's own decoder sees a short payload. */
    for (size_t t = 0; t < enc; t++) {
        memcpy(cp, blk, t);
        decode_hostile(cp, t, src, len);
        if (t >= ELVES_BLOCK_HEADER_SIZE) {
            uint32_t e = (uint32_t)(t - ELVES_BLOCK_HEADER_SIZE);
            memcpy(cp + 8, &e, 4);
            decode_hostile(cp, t, src, len);
        }
    }
    /* Single-bit flips: all of them for small blocks, a sample else. */
    for (size_t f = 0; f < (enc * 8 < flips ? enc * 8 : flips); f++) {
        size_t bit = enc * 8 <= flips ? f : rng() % (enc * 8);
        memcpy(cp, blk, enc);
        cp[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        decode_hostile(cp, enc, src, len);
    }
    /* Random multi-byte garbage in the payload. */
    for (int r = 0; r < 200 && enc > ELVES_BLOCK_HEADER_SIZE; r++) {
        memcpy(cp, blk, enc);
        for (int k = 0; k < 4; k++)
            cp[ELVES_BLOCK_HEADER_SIZE +
               rng() % (enc - ELVES_BLOCK_HEADER_SIZE)] = (uint8_t)rng();
        decode_hostile(cp, enc, src, len);
    }
    free(cp);
    free(blk);
}

static void test_hostile_blocks(void **state)
{
    uint8_t *g = make_data(3000, 4, PAT_EDGE);
    uint8_t *f = make_data(3001, 4, PAT_FEW);
    uint8_t *h = make_data(2002, 2, PAT_GAUSS);
    uint8_t *z = make_data(4000, 1, PAT_FEW);
    (void)state;
    for (int c = 0; c < ELVES_CODEC_COUNT; c++) {
        hostile_suite(g, 3000, ELVES_DT_F32, (elves_codec)c, 4000);
        hostile_suite(f, 3001, ELVES_DT_F32, (elves_codec)c, 4000);
        hostile_suite(h, 2002, ELVES_DT_BF16, (elves_codec)c, 4000);
        hostile_suite(z, 4000, ELVES_DT_U8, (elves_codec)c, 4000);
    }
    free(g);
    free(f);
    free(h);
    free(z);
}

static void test_garbage_blocks(void **state)
{
    uint8_t blk[256], out[4096];
    size_t got;
    (void)state;
    for (int r = 0; r < 20000; r++) {
        uint32_t raw = (uint32_t)(rng() % 4096), enc = (uint32_t)(rng() % 236);
        for (size_t i = 0; i < sizeof blk; i++)
            blk[i] = (uint8_t)rng();
        blk[0] = ELVES_BLOCK_MAGIC;
        blk[1] = (uint8_t)(rng() % ELVES_CODEC_COUNT);
        blk[2] = (uint8_t)(rng() % ELVES_DT_COUNT);
        blk[3] = (uint8_t)(rng() % 2);
        memcpy(blk + 4, &raw, 4);
        memcpy(blk + 8, &enc, 4);
        assert_true(elves_block_decode(&got, out, sizeof out, blk,
                                       ELVES_BLOCK_HEADER_SIZE + enc,
                                       NULL) <= 0);
    }
}

/* ---- stream forms -------------------------------------------------------- */

/* Puts src[0..n) as one stream at level, checks the form chosen (unless
 * want_tag < 0), reads it back, then reads every truncation and a sample
 * of bit flips of it, which must fail or give n bytes, never crash. */
static void stream_case(es_stream_ctx *sc, const uint8_t *src, size_t n,
                        int level, int want_tag)
{
    size_t cap = n + 64, pos = 0, rpos = 0;
    uint8_t *enc = xmalloc(cap), *dec = xmalloc(n), *cp = xmalloc(cap);
    assert_int_equal(es_stream_put(sc, enc, cap, &pos, src, n, level), 0);
    assert_true(pos <= n + 1 || (n == 0 && pos == 1));
    if (want_tag >= 0 && enc[0] != want_tag)
        fail_msg("%zu bytes: form %d, expected %d", n, enc[0], want_tag);
    assert_int_equal(es_stream_get(sc, dec, n, enc, pos, &rpos), 0);
    assert_int_equal(rpos, pos);
    assert_memory_equal(dec, src, n);
    for (size_t t = 0; t < pos; t++) {
        rpos = 0;
        memcpy(cp, enc, t);
        (void)es_stream_get(sc, dec, n, cp, t, &rpos);
        assert_true(rpos <= t);
    }
    for (int f = 0; f < 300; f++) {
        memcpy(cp, enc, pos);
        cp[rng() % pos] ^= (uint8_t)(1u << (rng() % 8));
        rpos = 0;
        if (es_stream_get(sc, dec, n, cp, pos, &rpos) == 0)
            assert_true(rpos <= pos);
    }
    free(enc);
    free(dec);
    free(cp);
}

static void test_stream_forms(void **state)
{
    static const size_t lens[] = {1, 2, 7, 8, 33, 63, 64, 65, 255, 256,
                                   1000, 4095, 4096, 4097, 20000, 300000};
    es_stream_ctx sc;
    uint8_t *src = xmalloc(300000);
    (void)state;
    es_stream_ctx_init(&sc);
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
        size_t n = lens[k];
        /* Every width of a narrow range, at an offset that wraps. */
        for (unsigned bits = 1; bits <= 8; bits++) {
            for (size_t i = 0; i < n; i++)
                src[i] = (uint8_t)(250 + rng() % (1u << bits));
            stream_case(&sc, src, n, ES_ENTROPY, -1);
            stream_case(&sc, src, n, ES_BEST, -1);
        }
        /* Skewed (exponent-like): packed while small, then zstd on the
         * values minus their minimum (BASE), then plain zstd; the same
         * from 0 up needs no BASE. */
        for (size_t i = 0; i < n; i++)
            src[i] = (uint8_t)(120 - (int)fabs(gauss() * 3));
        stream_case(&sc, src, n, ES_ENTROPY,
                    n < 8            ? -1
                    : n <= 33        ? ES_TAG_PACK
                    : n > 16384      ? ES_TAG_ZSTD
                    : n >= 1000      ? ES_TAG_BASE
                                     : -1);
        for (size_t i = 0; i < n; i++)
            src[i] = (uint8_t)fabs(gauss() * 3);
        stream_case(&sc, src, n, ES_ENTROPY,
                    n < 8            ? -1
                    : n <= 33        ? ES_TAG_PACK
                    : n >= 20000     ? ES_TAG_ZSTD
                    : n >= 1000      ? ES_TAG_ZBLOCK
                                     : -1);
        /* Constant, and random bytes (raw). */
        memset(src, 7, n);
        stream_case(&sc, src, n, ES_ENTROPY, n > 1 ? ES_TAG_CONST : -1);
        for (size_t i = 0; i < n; i++)
            src[i] = (uint8_t)rng();
        stream_case(&sc, src, n, ES_ENTROPY, n >= 64 ? ES_TAG_RAW : -1);
    }
    stream_case(&sc, src, 0, ES_ENTROPY, ES_TAG_RAW);
    /* The packed form at every width 1..4 and every tail (n % 8) past
     * whole groups of eight values; 5..7 bits where packing pays. */
    for (unsigned bits = 1; bits <= 7; bits++)
        for (size_t n = 24; n < 64; n++) {
            for (size_t i = 0; i < n; i++)
                src[i] = (uint8_t)(100 + rng() % (1u << bits));
            src[n / 2] = 100; /* both ends of the range occur */
            src[n / 3] = (uint8_t)(100 + (1u << bits) - 1);
            stream_case(&sc, src, n, ES_ENTROPY,
                        3 + (n * bits + 7) / 8 < 1 + n ? ES_TAG_PACK
                                                       : ES_TAG_RAW);
        }
    es_stream_ctx_free(&sc);
    free(src);
}

/* The SPLIT form: a stream of short runs from four value ranges (as the
 * exponents of a unit of batch-norm tensors) is cut into groups sent to
 * parts coded on their own and comes out smaller than order-0; an i.i.d.
 * stream is not split; hand-made SPLIT streams that break a rule are
 * refused. */
static size_t put_len(es_stream_ctx *sc, const uint8_t *src, size_t n,
                      int level, uint8_t *tag)
{
    size_t cap = n + 64, pos = 0;
    uint8_t *enc = xmalloc(cap);
    assert_int_equal(es_stream_put(sc, enc, cap, &pos, src, n, level), 0);
    *tag = enc[0];
    free(enc);
    return pos;
}

static int get_hand(es_stream_ctx *sc, const uint8_t *s, size_t len,
                    uint8_t *dec, size_t n)
{
    size_t pos = 0;
    int rc = es_stream_get(sc, dec, n, s, len, &pos);
    return rc == 0 && pos != len ? -1 : rc;
}

static void test_stream_split(void **state)
{
    static const size_t lens[] = {256, 1000, 20000, 65536};
    es_stream_ctx sc;
    uint8_t *src = xmalloc(65536), tag, dec[40];
    (void)state;
    es_stream_ctx_init(&sc);
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
        size_t n = lens[k];
        /* Runs of 64..263 bytes (at most a quarter of the stream, so
         * there are at least four), each around another of four centres
         * than the run before. */
        unsigned c = 0;
        for (size_t i = 0; i < n;) {
            size_t run = 64 + rng() % 200;
            if (run > n / 4)
                run = n / 4;
            c = (c + 1 + (unsigned)(rng() % 3)) % 4;
            int centre = 100 + 9 * (int)c;
            for (; run-- && i < n; i++)
                src[i] = (uint8_t)(centre + (int)(gauss() * 1.5));
        }
        size_t plain = put_len(&sc, src, n, ES_ENTROPY, &tag);
        size_t split = put_len(&sc, src, n, ES_ENTROPY_SPLIT, &tag);
        if (tag != ES_TAG_SPLIT)
            fail_msg("%zu bytes: form %d (%zu bytes), not split", n, tag,
                     split);
        /* 256 bytes hold only two or three runs: smaller, not by much. */
        if (split >= plain - (n > 256 ? plain / 10 : 0))
            fail_msg("%zu bytes: split %zu, plain %zu", n, split, plain);
        stream_case(&sc, src, n, ES_ENTROPY_SPLIT, ES_TAG_SPLIT);
        for (size_t i = 0; i < n; i++)
            src[i] = (uint8_t)(120 - (int)fabs(gauss() * 3));
        (void)put_len(&sc, src, n, ES_ENTROPY_SPLIT, &tag);
        assert_int_not_equal(tag, ES_TAG_SPLIT);
        stream_case(&sc, src, n, ES_ENTROPY_SPLIT, -1);
    }
    /* 40 bytes: groups of 32 and 8, the first to part 1, the second to
     * part 0; selectors and parts as RAW streams. */
    uint8_t ok[2 + 3 + 9 + 33];
    size_t at = 0;
    ok[at++] = ES_TAG_SPLIT;
    ok[at++] = 2;
    ok[at++] = ES_TAG_RAW, ok[at++] = 1, ok[at++] = 0; /* selectors */
    ok[at++] = ES_TAG_RAW;                             /* part 0: 8 bytes */
    for (int i = 0; i < 8; i++)
        ok[at++] = (uint8_t)(100 + i);
    ok[at++] = ES_TAG_RAW; /* part 1: 32 bytes */
    for (int i = 0; i < 32; i++)
        ok[at++] = (uint8_t)i;
    assert_int_equal(get_hand(&sc, ok, at, dec, 40), 0);
    assert_int_equal(dec[0], 0);
    assert_int_equal(dec[31], 31);
    assert_int_equal(dec[32], 100);
    assert_int_equal(dec[39], 107);
    uint8_t bad[sizeof ok];
    memcpy(bad, ok, at);
    bad[3] = 2; /* a selector naming a part past k */
    assert_int_equal(get_hand(&sc, bad, at, dec, 40), ELVES_E_CORRUPT);
    for (uint8_t kk = 0; kk < 12; kk += 11) { /* 0 and 11 parts */
        memcpy(bad, ok, at);
        bad[1] = kk;
        assert_int_equal(get_hand(&sc, bad, at, dec, 40), ELVES_E_CORRUPT);
    }
    memcpy(bad, ok, at);
    bad[2] = ES_TAG_SPLIT; /* selectors in the SPLIT form */
    assert_int_equal(get_hand(&sc, bad, at, dec, 40), ELVES_E_CORRUPT);
    memcpy(bad, ok, at);
    bad[3] = 0; /* both groups to part 0: it holds 8 bytes, not 40 */
    assert_int_not_equal(get_hand(&sc, bad, at, dec, 40), 0);
    es_stream_ctx_free(&sc);
    free(src);
}

/* ---- chooser and bounds
 * -------------------------------------------------------- */

static void test_choose(void **state)
{
    size_t n = 600000;
    uint8_t *g = make_data(n, 4, PAT_GAUSS), *few = make_data(n, 4, PAT_FEW);
    uint8_t *rnd = make_data(n, 1, PAT_RANDOM);
    elves_codec c;
    (void)state;
    assert_int_equal(
        elves_choose_codec(&c, g, n, ELVES_DT_F32, ELVES_MODE_LOSSLESS),
        ELVES_OK);
    assert_int_equal(c, ELVES_CODEC_FLOAT);
    assert_int_equal(elves_choose_codec(&c, g, n, ELVES_DT_F32, ELVES_MODE_ELF),
                     ELVES_OK);
    assert_int_equal(c, ELVES_CODEC_ELF);
    assert_int_equal(
        elves_choose_codec(&c, g, n / 2 * 2, ELVES_DT_BF16, ELVES_MODE_ELF),
        ELVES_OK);
    assert_true(c != ELVES_CODEC_ELF);
    assert_int_equal(
        elves_choose_codec(&c, few, n, ELVES_DT_F32, ELVES_MODE_LOSSLESS),
        ELVES_OK);
    assert_int_equal(c, ELVES_CODEC_DICT);
    assert_int_equal(
        elves_choose_codec(&c, rnd, n, ELVES_DT_I32, ELVES_MODE_LOSSLESS),
        ELVES_OK);
    assert_true(c == ELVES_CODEC_ZSTD || c == ELVES_CODEC_DICT);
    assert_int_equal(
        elves_choose_codec(&c, g, 0, ELVES_DT_F32, ELVES_MODE_LOSSLESS),
        ELVES_OK);
    assert_int_equal(
        elves_choose_codec(NULL, g, n, ELVES_DT_F32, ELVES_MODE_LOSSLESS),
        ELVES_E_INVALID);
    free(g);
    free(few);
    free(rnd);
}

static void test_bounds(void **state)
{
    size_t n = 1 << 16;
    uint8_t *z = make_data(n, 4, PAT_ZERO), *r = make_data(n, 1, PAT_RANDOM);
    double b;
    (void)state;
    /* Constant F32: sign+exponent cost nothing, 23 mantissa bits remain. */
    b = elves_entropy_bound(z, n, ELVES_DT_F32);
    assert_true(fabs(b - n / 4 * 23.0 / 8) < 1);
    b = elves_entropy_bound(z, n, ELVES_DT_U8);
    assert_true(b < 1);
    b = elves_entropy_bound(r, n, ELVES_DT_OPAQUE);
    assert_true(b > n * 0.99 && b <= n);
    /* ELF of zeros: three constant planes. */
    b = elves_elf_entropy_bound(z, n);
    assert_true(b < 1);
    /* ELF of values >= 1: all outliers, 8 bytes each. */
    for (size_t i = 0; i < n; i += 4) {
        float f = 2.0f;
        memcpy(z + i, &f, 4);
    }
    assert_true(fabs(elves_elf_entropy_bound(z, n) - 2.0 * n) < 1);
    assert_true(elves_entropy_bound(NULL, 0, ELVES_DT_F32) == 0);
    free(z);
    free(r);
}

/* The planes of ELF words, value by value: sign << 23 | mantissa of
 * |p| + 1, top byte first; outliers counted apart. */
static void test_elf_plane_hist(void **state)
{
    const float v[] = {
        0.5f, -0.25f, 0x1p-30f, 1.0f - 0x1p-22f, 0.0f,
        2.0f, -0.0f,  NAN,      1.0f - 0x1p-23f, 1.0f - 0x1p-24f};
    uint8_t buf[sizeof v + 3] = {0};
    uint64_t h[3][256], outliers = 99;
    (void)state;
    memcpy(buf, v, sizeof v);
    elves_elf_plane_hist(h, &outliers, buf, sizeof buf);
    /* 2.0, -0.0, NaN, and 1 - 2^-23 (the threshold) and above. */
    assert_int_equal(outliers, 5);
    /* 0.5 -> 0x400000, -0.25 -> 0xA00000, 1 - 2^-22 -> 0x7FFFFE, 0.0 and
     * 2^-30 -> 0 (2^-30 is lost in 1 + |p|, within 2^-24). */
    assert_int_equal(h[0][0x40], 1);
    assert_int_equal(h[0][0xA0], 1);
    assert_int_equal(h[0][0x7F], 1);
    assert_int_equal(h[0][0x00], 2);
    assert_int_equal(h[1][0xFF], 1);
    assert_int_equal(h[1][0x00], 4);
    assert_int_equal(h[2][0xFE], 1);
    assert_int_equal(h[2][0x00], 4);
    uint64_t sum = 0;
    for (int s = 0; s < 256; s++)
        sum += h[0][s];
    assert_int_equal(sum, 5);
    elves_elf_plane_hist(h, &outliers, NULL, 0);
    assert_int_equal(outliers, 0);
    assert_int_equal(h[0][0], 0);
}

/* ---- threads
 * ----------------------------------------------------------------------- */

static void *thread_main(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    size_t len = 100000 + seed * 13;
    uint8_t *d = xmalloc(len), *blk = xmalloc(elves_block_bound(len)),
            *out = xmalloc(len);
    for (size_t i = 0; i < len; i++)
        d[i] = (uint8_t)((i * seed) >> 7);
    for (int r = 0; r < 40; r++) {
        size_t enc, got;
        elves_codec c = (elves_codec)(r % ELVES_CODEC_COUNT);
        if (elves_block_encode(&enc, blk, elves_block_bound(len), d, len,
                               ELVES_DT_F32, c, NULL) != ELVES_OK ||
            elves_block_decode(&got, out, len, blk, enc, NULL) != ELVES_OK ||
            (c != ELVES_CODEC_ELF && memcmp(out, d, len) != 0))
            return (void *)1;
    }
    free(d);
    free(blk);
    free(out);
    return NULL;
}

static void test_threads(void **state)
{
    pthread_t t[4];
    void *res;
    (void)state;
    for (uintptr_t i = 0; i < 4; i++)
        assert_int_equal(
            pthread_create(&t[i], NULL, thread_main, (void *)(i + 3)), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], &res), 0);
        assert_null(res);
    }
}

/* ---- real checkpoints
 * --------------------------------------------------------------- */

/* Every segment of a real file in 1 MiB blocks with every codec and the
 * chooser's pick; lossless codecs must give the file back exactly. */
static void real_file(const char *path)
{
    size_t len = 0, stored = 0;
    uint8_t *d = test_read_file(path, &len);
    assert_non_null(d);
    elves_segments *segs = NULL;
    assert_int_equal(elves_segment_file(&segs, d, len, NULL), ELVES_OK);
    for (size_t i = 0; i < segs->count; i++) {
        const elves_segment *s = &segs->items[i];
        elves_dtype dt =
            s->kind == ELVES_SEG_TENSOR ? s->dtype : ELVES_DT_OPAQUE;
        elves_codec pick;
        assert_int_equal(elves_choose_codec(&pick, d + s->offset, s->length, dt,
                                            ELVES_MODE_LOSSLESS),
                         ELVES_OK);
        assert_true(pick != ELVES_CODEC_ELF);
        for (uint64_t o = 0; o < s->length; o += ELVES_DEFAULT_BLOCK_SIZE) {
            size_t n = s->length - o < ELVES_DEFAULT_BLOCK_SIZE
                           ? (size_t)(s->length - o)
                           : ELVES_DEFAULT_BLOCK_SIZE,
                   enc;
            for (int c = 0; c < ELVES_CODEC_COUNT; c++)
                roundtrip(d + s->offset + o, n, dt, (elves_codec)c, NULL);
            roundtrip(d + s->offset + o, n, dt, pick, &enc);
            stored += enc;
        }
    }
    print_message("  %-45s %9zu -> %9zu (%.3fx)\n", strrchr(path, '/') + 1, len,
                  stored, (double)len / stored);
    elves_segments_free(segs);
    free(d);
}

static void test_real_files(void **state)
{
    DIR *dir = opendir(ELVES_SHARED_DATA);
    struct dirent *e;
    int files = 0;
    (void)state;
    if (!dir)
        skip();
    while ((e = readdir(dir)) != NULL) {
        char path[4096];
        if (!strstr(e->d_name, ".safetensors"))
            continue;
        snprintf(path, sizeof path, "%s/%s", ELVES_SHARED_DATA, e->d_name);
        real_file(path);
        files++;
    }
    closedir(dir);
    assert_true(files > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_codec_dtype),
        cmocka_unit_test(test_odd_lengths_f32),
        cmocka_unit_test(test_all_edges_exact),
        cmocka_unit_test(test_big_blocks),
        cmocka_unit_test(test_max_block),
        cmocka_unit_test(test_fallbacks),
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_hostile_blocks),
        cmocka_unit_test(test_garbage_blocks),
        cmocka_unit_test(test_stream_forms),
        cmocka_unit_test(test_stream_split),
        cmocka_unit_test(test_choose),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_elf_plane_hist),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_real_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
