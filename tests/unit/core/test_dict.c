/*
 * test_dict.c - the DICT codec: blocks with 1, 2, 3, 4, 5, 16, 17, 255,
 * 256, 257 and more distinct values for every element size (1, 2, 4, 8
 * bytes), packed and byte-wide indices, 16-bit indices for 4/8-byte
 * elements, the fallback when values are too many, hand-made hostile
 * payloads (indices past the table, bad widths and table sizes), and the
 * chooser picking DICT when it is the smallest.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <xxhash.h>

#include "elves.h"

static uint64_t rng_state = 0x6a09e667f3bcc908ull;

static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

/* n elements of `unit` bytes drawn from k distinct random values (all k
 * present), plus `tail` extra bytes. */
static uint8_t *few_values(size_t n, unsigned unit, size_t k, size_t tail)
{
    uint8_t *d = malloc(n * unit + tail + 1);
    uint64_t *vals = malloc(k * sizeof *vals);
    assert_non_null(d);
    assert_non_null(vals);
    for (size_t j = 0; j < k; j++)
        vals[j] = unit == 1 ? j * 7 % 256 : rng() ^ (j << 3);
    for (size_t i = 0; i < n; i++) {
        uint64_t v = vals[i < k ? i : rng() % k];
        memcpy(d + i * unit, &v, unit);
    }
    for (size_t t = 0; t < tail; t++)
        d[n * unit + t] = (uint8_t)rng();
    free(vals);
    return d;
}

static elves_dtype dtype_for(unsigned unit)
{
    return unit == 1   ? ELVES_DT_U8
           : unit == 2 ? ELVES_DT_F16
           : unit == 4 ? ELVES_DT_F32
                       : ELVES_DT_F64;
}

/* DICT round trip; returns the codec written and the block size. */
static elves_codec roundtrip(const uint8_t *src, size_t len, elves_dtype dt,
                             size_t *enc_out)
{
    size_t cap = elves_block_bound(len), enc, got;
    uint8_t *blk = malloc(cap), *out = malloc(len + 1);
    elves_block_info bi;
    assert_non_null(blk);
    assert_non_null(out);
    assert_int_equal(elves_block_encode(&enc, blk, cap, src, len, dt,
                                        ELVES_CODEC_DICT, NULL),
                     ELVES_OK);
    assert_int_equal(elves_block_info_read(&bi, blk, enc), ELVES_OK);
    assert_int_equal(elves_block_decode(&got, out, len, blk, enc, NULL),
                     ELVES_OK);
    assert_int_equal(got, len);
    assert_memory_equal(out, src, len);
    free(blk);
    free(out);
    if (enc_out)
        *enc_out = enc;
    return bi.codec;
}

static void test_distinct_counts(void **state)
{
    static const size_t ks[] = {1, 2, 3, 4, 5, 16, 17, 255, 256, 257};
    static const unsigned units[] = {1, 2, 4, 8};
    (void)state;
    for (size_t u = 0; u < 4; u++)
        for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
            for (size_t tail = 0; tail < units[u]; tail += 3) {
                size_t n = 50000, enc;
                uint8_t *d = few_values(n, units[u], ks[i], tail);
                elves_codec c = roundtrip(d, n * units[u] + tail,
                                          dtype_for(units[u]), &enc);
                /* Random values from a small table: DICT must win for
                 * wide elements, and for any width when k <= 16. */
                if (ks[i] <= 256 && (units[u] >= 2 || ks[i] <= 16))
                    assert_int_equal(c, ELVES_CODEC_DICT);
                if (ks[i] == 1)
                    assert_true(enc < 64);
                if (ks[i] == 2)
                    assert_true(enc < n / 8 + 200);
                free(d);
            }
}

static void test_wide_indices(void **state)
{
    static const size_t ks[] = {300, 1000, 4000};
    (void)state;
    for (size_t i = 0; i < 3; i++)
        for (unsigned unit = 4; unit <= 8; unit *= 2) {
            size_t n = 262144, enc;
            uint8_t *d = few_values(n, unit, ks[i], 0);
            assert_int_equal(roundtrip(d, n * unit, dtype_for(unit), &enc),
                             ELVES_CODEC_DICT);
            /* About log2(k) bits per element plus the table. */
            assert_true(enc < n * 2 + ks[i] * unit + 100);
            free(d);
        }
}

static void test_too_many_values(void **state)
{
    size_t n = 100000;
    uint8_t *d = few_values(n, 4, n, 0);
    (void)state;
    /* All distinct: DICT does not apply; the fallback is lossless. */
    assert_true(roundtrip(d, n * 4, ELVES_DT_F32, NULL) != ELVES_CODEC_DICT);
    free(d);
    d = few_values(n, 2, 300, 0); /* > 256 values of 2 bytes */
    assert_true(roundtrip(d, n * 2, ELVES_DT_BF16, NULL) != ELVES_CODEC_DICT);
    free(d);
}

static void test_small_blocks(void **state)
{
    (void)state;
    for (size_t len = 0; len < 80; len++)
        for (unsigned unit = 1; unit <= 8; unit *= 2) {
            uint8_t *d =
                few_values(len / unit, unit, len / unit ? 3 : 0, len % unit);
            if (len / unit < 3)
                for (size_t i = 0; i < len; i++)
                    d[i] = (uint8_t)i;
            roundtrip(d, len, dtype_for(unit), NULL);
            free(d);
        }
}

/* A DICT block by hand: F32, n elements, width w, table size k, table
 * planes constant (value 0x11111111), index bytes all `fill`. */
static size_t handmade(uint8_t *blk, size_t n, uint8_t w, uint32_t k,
                       uint8_t fill, uint8_t *expect)
{
    size_t pos = ELVES_BLOCK_HEADER_SIZE,
           idx_bytes = w == 16 ? n : (n * w + 7) / 8;
    uint32_t raw = (uint32_t)(n * 4), enc;
    uint64_t sum;
    blk[pos++] = w;
    memcpy(blk + pos, &k, 4);
    pos += 4;
    for (int b = 0; b < 4; b++) {
        blk[pos++] = 1; /* CONST stream */
        blk[pos++] = 0x11;
    }
    for (int s = 0; s < (w == 16 ? 2 : 1); s++) {
        blk[pos++] = 0; /* RAW stream */
        memset(blk + pos, fill, idx_bytes);
        pos += idx_bytes;
    }
    for (size_t i = 0; i < n; i++)
        memset(expect + 4 * i, 0x11, 4);
    sum = XXH3_64bits(expect, n * 4);
    enc = (uint32_t)(pos - ELVES_BLOCK_HEADER_SIZE);
    blk[0] = ELVES_BLOCK_MAGIC;
    blk[1] = ELVES_CODEC_DICT;
    blk[2] = ELVES_DT_F32;
    blk[3] = 0;
    memcpy(blk + 4, &raw, 4);
    memcpy(blk + 8, &enc, 4);
    memcpy(blk + 12, &sum, 8);
    return pos;
}

static void test_hostile_payloads(void **state)
{
    uint8_t blk[4096], expect[4096], out[4096];
    size_t len, got;
    (void)state;
    /* Well-formed: all indices 0 into a table of 1..4 equal values. */
    len = handmade(blk, 400, 2, 1, 0x00, expect);
    assert_int_equal(elves_block_decode(&got, out, sizeof out, blk, len, NULL),
                     ELVES_OK);
    assert_memory_equal(out, expect, 1600);
    /* Index 3 into a table of 3. */
    len = handmade(blk, 400, 2, 3, 0xff, expect);
    assert_int_equal(elves_block_decode(&got, out, sizeof out, blk, len, NULL),
                     ELVES_E_CORRUPT);
    /* Index 0x0101 into a table of 256 (16-bit). */
    len = handmade(blk, 400, 16, 256, 0x01, expect);
    assert_int_equal(elves_block_decode(&got, out, sizeof out, blk, len, NULL),
                     ELVES_E_CORRUPT);
    /* Table larger than the width allows, empty table, bad widths. */
    len = handmade(blk, 400, 2, 5, 0x00, expect);
    assert_int_equal(elves_block_decode(&got, out, sizeof out, blk, len, NULL),
                     ELVES_E_CORRUPT);
    len = handmade(blk, 400, 8, 0, 0x00, expect);
    assert_int_equal(elves_block_decode(&got, out, sizeof out, blk, len, NULL),
                     ELVES_E_CORRUPT);
    len = handmade(blk, 400, 16, 65537, 0x00, expect);
    assert_int_equal(elves_block_decode(&got, out, sizeof out, blk, len, NULL),
                     ELVES_E_CORRUPT);
    for (uint8_t w = 0; w < 20; w++) {
        if (w == 1 || w == 2 || w == 4 || w == 8 || w == 16)
            continue;
        len = handmade(blk, 400, w, 1, 0x00, expect);
        assert_int_equal(
            elves_block_decode(&got, out, sizeof out, blk, len, NULL),
            ELVES_E_CORRUPT);
    }
    /* Trailing garbage after the last stream. */
    len = handmade(blk, 400, 2, 1, 0x00, expect);
    blk[len] = 0;
    {
        uint32_t enc = (uint32_t)(len + 1 - ELVES_BLOCK_HEADER_SIZE);
        memcpy(blk + 8, &enc, 4);
    }
    assert_int_equal(
        elves_block_decode(&got, out, sizeof out, blk, len + 1, NULL),
        ELVES_E_CORRUPT);
}

static void test_chooser_picks_dict(void **state)
{
    size_t n = 400000;
    uint8_t *d = few_values(n, 4, 40, 0), *m = malloc(n);
    elves_codec c;
    (void)state;
    assert_non_null(m);
    assert_int_equal(
        elves_choose_codec(&c, d, n * 4, ELVES_DT_F32, ELVES_MODE_LOSSLESS),
        ELVES_OK);
    assert_int_equal(c, ELVES_CODEC_DICT);
    assert_int_equal(
        elves_choose_codec(&c, d, n * 4, ELVES_DT_F32, ELVES_MODE_ELF),
        ELVES_OK);
    assert_int_equal(c, ELVES_CODEC_DICT);
    /* A random boolean mask: 1-bit indices beat zstd's 1 bit/byte floor. */
    for (size_t i = 0; i < n; i++)
        m[i] = (uint8_t)(rng() & 1);
    assert_int_equal(
        elves_choose_codec(&c, m, n, ELVES_DT_BOOL, ELVES_MODE_LOSSLESS),
        ELVES_OK);
    assert_int_equal(c, ELVES_CODEC_DICT);
    free(d);
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_distinct_counts),
        cmocka_unit_test(test_wide_indices),
        cmocka_unit_test(test_too_many_values),
        cmocka_unit_test(test_small_blocks),
        cmocka_unit_test(test_hostile_payloads),
        cmocka_unit_test(test_chooser_picks_dict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
