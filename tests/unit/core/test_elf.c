/*
 * test_elf.c - the ELF codec's promise over more than ten million values:
 * every decoded F32 value is within 2^-24 of the original, and is exactly
 * the paper's transform (sign * ((float)(|p| + 1) - 1)) for |p| < 1-2^-23
 * (not -0.0), while every other value (|p| >= 1-2^-23, NaN, Inf, -0.0) is
 * kept bit-exact.  Gaussian weights of several scales, uniform (-1, 1),
 * values around the threshold and around 2^-24, every exponent, denormals;
 * odd lengths; dtypes ELF does not apply to.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "elves.h"

#define BLOCK_VALUES (ELVES_DEFAULT_BLOCK_SIZE / 4)

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static double uniform(void)
{
    return (rng() >> 11) * 0x1p-53;
}

static double gauss(void)
{
    double u = uniform() + 0x1p-60, v = uniform();
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

static uint32_t bits_of(float f)
{
    uint32_t b;
    memcpy(&b, &f, 4);
    return b;
}

static float float_of(uint32_t b)
{
    float f;
    memcpy(&f, &b, 4);
    return f;
}

/* The transform as the paper states it, written independently of the
 * codec: what the decoder must give for value bits b. */
static uint32_t elf_reference(uint32_t b)
{
    float p = float_of(b), a = fabsf(p);
    if (!(a < 1.0f - 0x1p-23f) || b == 0x80000000u)
        return b; /* outlier: exact */
    float d = (a + 1.0f) - 1.0f;
    return bits_of(d) | (b & 0x80000000u);
}

static size_t checked_values;

/* ELF round trip of n values with every check; returns encoded bytes. */
static size_t check_block(const uint32_t *v, size_t n)
{
    size_t len = n * 4, cap = elves_block_bound(len), enc, got;
    uint8_t *blk = malloc(cap);
    uint32_t *out = malloc(len ? len : 4);
    elves_block_info bi;
    elves_error err = {0};
    assert_non_null(blk);
    assert_non_null(out);
    if (elves_block_encode(&enc, blk, cap, (const uint8_t *)v, len,
                           ELVES_DT_F32, ELVES_CODEC_ELF, &err) != ELVES_OK)
        fail_msg("ELF encode: %s", err.msg);
    assert_int_equal(elves_block_info_read(&bi, blk, enc), ELVES_OK);
    assert_int_equal(
        elves_block_decode(&got, (uint8_t *)out, len, blk, enc, &err),
        ELVES_OK);
    assert_int_equal(got, len);
    if (bi.codec == ELVES_CODEC_ELF)
        assert_int_equal(bi.flags, ELVES_BLOCK_FLAG_LOSSY);
    else
        assert_int_equal(bi.flags, 0);
    for (size_t i = 0; i < n; i++) {
        uint32_t want =
            bi.codec == ELVES_CODEC_ELF ? elf_reference(v[i]) : v[i];
        if (out[i] != want)
            fail_msg("value %zu: %08x -> %08x, expected %08x", i, v[i], out[i],
                     want);
        if (out[i] != v[i] && !(fabs((double)float_of(out[i]) -
                                     (double)float_of(v[i])) <= 0x1p-24))
            fail_msg("value %zu: %a -> %a beyond 2^-24", i, float_of(v[i]),
                     float_of(out[i]));
    }
    checked_values += n;
    free(blk);
    free(out);
    return enc;
}

typedef uint32_t (*gen_fn)(double scale);

static uint32_t gen_gauss(double scale)
{
    return bits_of((float)(gauss() * scale));
}

static uint32_t gen_uniform(double scale)
{
    (void)scale;
    return bits_of((float)(uniform() * 2 - 1));
}

/* Magnitudes within a few ulps of 1 - 2^-23 and of 1, both signs. */
static uint32_t gen_threshold(double scale)
{
    (void)scale;
    uint32_t m = 0x3f7ffffeu + (uint32_t)(rng() % 64) - 32;
    return m | (uint32_t)(rng() & 1) << 31;
}

/* Magnitudes around 2^-24 and 2^-23, where rounding decides everything. */
static uint32_t gen_tiny(double scale)
{
    (void)scale;
    uint32_t m = 0x33000000u + (uint32_t)(rng() % 0x01800000u);
    return m | (uint32_t)(rng() & 1) << 31;
}

/* Any exponent, any mantissa: denormals, NaNs, Inf, huge values. */
static uint32_t gen_any(double scale)
{
    (void)scale;
    return (uint32_t)rng();
}

/* Values below 1 with random exponents (ELF-able, no outliers). */
static uint32_t gen_below_one(double scale)
{
    (void)scale;
    uint32_t e = (uint32_t)(rng() % 127);
    return e << 23 | (uint32_t)(rng() & 0x807fffffu);
}

static void run(gen_fn gen, double scale, int blocks, double min_ratio)
{
    uint32_t *v = malloc(BLOCK_VALUES * 4);
    size_t enc = 0;
    assert_non_null(v);
    for (int b = 0; b < blocks; b++) {
        for (size_t i = 0; i < BLOCK_VALUES; i++)
            v[i] = gen(scale);
        enc += check_block(v, BLOCK_VALUES);
    }
    if (min_ratio > 0 &&
        (double)blocks * BLOCK_VALUES * 4 / (double)enc < min_ratio)
        fail_msg("ELF ratio %.3f < %.3f",
                 (double)blocks * BLOCK_VALUES * 4 / (double)enc, min_ratio);
    free(v);
}

static void test_gaussians(void **state)
{
    static const double scales[] = {1e-5, 1e-3, 0.02, 0.1, 0.3, 1.0, 4.0};
    (void)state;
    for (size_t s = 0; s < sizeof scales / sizeof scales[0]; s++)
        run(gen_gauss, scales[s], 3, scales[s] <= 0.1 ? 1.3 : 0);
}

static void test_uniform(void **state)
{
    (void)state;
    run(gen_uniform, 0, 4, 1.2);
}

static void test_threshold(void **state)
{
    (void)state;
    run(gen_threshold, 0, 3, 0);
    run(gen_tiny, 0, 3, 0);
}

static void test_any_bits(void **state)
{
    (void)state;
    run(gen_any, 0, 4, 0);
    run(gen_below_one, 0, 4, 0);
}

/* Every exponent with several mantissas, both signs, in one block. */
static void test_every_exponent(void **state)
{
    uint32_t v[256 * 2 * 8];
    size_t n = 0;
    (void)state;
    for (uint32_t e = 0; e < 256; e++)
        for (uint32_t s = 0; s < 2; s++)
            for (uint32_t m = 0; m < 8; m++)
                v[n++] = s << 31 | e << 23 |
                         (m < 2 ? m * 0x7fffffu : (uint32_t)rng() & 0x7fffffu);
    check_block(v, n);
}

/* Outliers at the places the position gaps find hard: none, all, the
 * first or last value only, runs, alternation, and gaps that take 1, 2
 * and 3 LEB128 bytes, in blocks of inliers of two scales. */
static void test_outlier_positions(void **state)
{
    static const size_t gaps[] = {0, 1, 126, 127, 128, 129, 16383, 16384,
                                  16385, 200000};
    uint32_t *v = malloc(BLOCK_VALUES * 4);
    (void)state;
    assert_non_null(v);
    for (int pattern = 0; pattern < 7 + 10; pattern++) {
        size_t n = pattern % 2 ? BLOCK_VALUES : 3001;
        for (size_t i = 0; i < n; i++)
            v[i] = gen_gauss(pattern % 3 ? 0.02 : 1e-4);
        for (size_t i = 0; i < n; i++) {
            int out;
            switch (pattern) {
            case 0: out = 0; break;
            case 1: out = 1; break;
            case 2: out = i == 0; break;
            case 3: out = i == n - 1; break;
            case 4: out = i % 2 == 0; break;
            case 5: out = i % 1000 < 300; break;
            case 6: out = i == 0 || i == n - 1; break;
            default: out = i % (gaps[pattern - 7] + 1) == 0; break;
            }
            if (out)
                v[i] = i % 3 == 0   ? 0x80000000u  /* -0.0 */
                       : i % 3 == 1 ? 0x7fc00001u  /* NaN payload */
                                    : bits_of((float)(1 + gauss() * gauss()));
        }
        check_block(v, n);
    }
    free(v);
}

/* Decodes a hand-made ELF payload of 8 values: 1 if the payload was
 * refused, 0 if it parsed and only the (zero) checksum failed. */
static int refused(const uint8_t *payload, size_t len)
{
    elves_error err = {0};
    uint8_t blk[64] = {0}, out[32];
    uint32_t raw = 32, enc = (uint32_t)len;
    size_t got;
    assert_true(len < raw);
    blk[0] = ELVES_BLOCK_MAGIC;
    blk[1] = ELVES_CODEC_ELF;
    blk[2] = ELVES_DT_F32;
    blk[3] = ELVES_BLOCK_FLAG_LOSSY;
    memcpy(blk + 4, &raw, 4);
    memcpy(blk + 8, &enc, 4);
    memcpy(blk + ELVES_BLOCK_HEADER_SIZE, payload, len);
    assert_int_equal(elves_block_decode(&got, out, sizeof out, blk,
                                        ELVES_BLOCK_HEADER_SIZE + len, &err),
                     ELVES_E_CORRUPT);
    return strstr(err.msg, "damaged payload") != NULL;
}

/* Outlier lists that lie: each must be refused before any plane or
 * output byte out of range is touched (ASan builds check the "before"). */
static void test_hostile_outliers(void **state)
{
    /* format 3, k = 2, three constant planes of the 6 inliers, glen, a raw
     * gap stream of two bytes, four constant planes of the outliers. */
#define P(g0, g1, glen)                                                       \
    {3, 2, 1, 0, 1, 0, 1, 0, glen, 0, g0, g1, 1, 0x7f, 1, 0x80, 1, 0, 1, 0}
    static const uint8_t past_inliers[] = P(7, 0, 2); /* 7 inliers of 6 */
    static const uint8_t past_end[] = P(1, 7, 2);     /* position 9 of 8 */
    static const uint8_t short_gaps[] = P(0, 0, 1);   /* glen < k */
    static const uint8_t bad_varint[] = P(0x80, 0x80, 2);
    static const uint8_t good[] = P(1, 0, 2);
#undef P
    static const uint8_t bad_format[] = {2, 0, 1, 0, 1, 0, 1, 0};
    static const uint8_t too_many[] = {3, 9};
    (void)state;
    assert_true(refused(past_inliers, sizeof past_inliers));
    assert_true(refused(past_end, sizeof past_end));
    assert_true(refused(short_gaps, sizeof short_gaps));
    assert_true(refused(bad_varint, sizeof bad_varint));
    assert_true(refused(bad_format, sizeof bad_format));
    assert_true(refused(too_many, sizeof too_many));
    /* The well-formed one parses: only its zero checksum fails. */
    assert_false(refused(good, sizeof good));
}

static void test_counted(void **state)
{
    (void)state;
    print_message("  %zu values checked\n", checked_values);
    assert_true(checked_values >= 10000000);
}

static void test_odd_lengths(void **state)
{
    uint8_t src[64], blk[128], out[64];
    size_t enc, got;
    (void)state;
    for (size_t i = 0; i < sizeof src; i++)
        src[i] = (uint8_t)(0x3c + i);
    for (size_t len = 0; len <= 23; len++) {
        assert_int_equal(elves_block_encode(&enc, blk, sizeof blk, src, len,
                                            ELVES_DT_F32, ELVES_CODEC_ELF,
                                            NULL),
                         ELVES_OK);
        assert_int_equal(
            elves_block_decode(&got, out, sizeof out, blk, enc, NULL),
            ELVES_OK);
        assert_int_equal(got, len);
        /* The tail that is not a whole float is always exact. */
        assert_memory_equal(out + len / 4 * 4, src + len / 4 * 4, len % 4);
    }
}

static void test_other_dtypes(void **state)
{
    uint32_t v[4096];
    uint8_t blk[sizeof v + ELVES_BLOCK_HEADER_SIZE], out[sizeof v];
    size_t enc, got;
    (void)state;
    for (size_t i = 0; i < 4096; i++)
        v[i] = gen_gauss(0.02);
    for (int dt = 0; dt < ELVES_DT_COUNT; dt++) {
        elves_block_info bi;
        if (dt == ELVES_DT_F32)
            continue;
        assert_int_equal(elves_block_encode(&enc, blk, sizeof blk, (uint8_t *)v,
                                            sizeof v, (elves_dtype)dt,
                                            ELVES_CODEC_ELF, NULL),
                         ELVES_OK);
        assert_int_equal(elves_block_info_read(&bi, blk, enc), ELVES_OK);
        assert_true(bi.codec != ELVES_CODEC_ELF);
        assert_int_equal(bi.flags, 0);
        assert_int_equal(
            elves_block_decode(&got, out, sizeof out, blk, enc, NULL),
            ELVES_OK);
        assert_memory_equal(out, v, sizeof v);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gaussians),
        cmocka_unit_test(test_uniform),
        cmocka_unit_test(test_threshold),
        cmocka_unit_test(test_any_bits),
        cmocka_unit_test(test_every_exponent),
        cmocka_unit_test(test_outlier_positions),
        cmocka_unit_test(test_hostile_outliers),
        cmocka_unit_test(test_counted),
        cmocka_unit_test(test_odd_lengths),
        cmocka_unit_test(test_other_dtypes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
