/*
 * test_fingerprint.c - tensor fingerprints (dtype, shape and bytes all
 * count) and SHA-256 (known vectors, streaming equals one shot).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "elves.h"

static void fp_of(elves_fp128 *fp, elves_dtype dt, const uint64_t *shape,
                  uint32_t ndim, const uint8_t *data, size_t len)
{
    memset(fp, 0xAA, sizeof *fp);
    elves_tensor_fingerprint(fp, dt, shape, ndim, data, len);
}

static int fp_eq(const elves_fp128 *a, const elves_fp128 *b)
{
    return memcmp(a->b, b->b, sizeof a->b) == 0;
}

static void test_fp_same_input_same_fp(void **state)
{
    uint8_t data[24];
    uint64_t shape[2] = {2, 3};
    elves_fp128 a, b;

    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7);
    fp_of(&a, ELVES_DT_F32, shape, 2, data, sizeof data);
    fp_of(&b, ELVES_DT_F32, shape, 2, data, sizeof data);
    assert_true(fp_eq(&a, &b));
}

static void test_fp_dtype_shape_bytes_matter(void **state)
{
    uint8_t data[24];
    uint64_t s23[2] = {2, 3}, s32[2] = {3, 2}, s6[2] = {6, 1};
    elves_fp128 base, other;

    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7);
    fp_of(&base, ELVES_DT_F32, s23, 2, data, sizeof data);

    fp_of(&other, ELVES_DT_I32, s23, 2, data, sizeof data);
    assert_false(fp_eq(&base, &other));
    fp_of(&other, ELVES_DT_F32, s32, 2, data, sizeof data);
    assert_false(fp_eq(&base, &other));
    fp_of(&other, ELVES_DT_F32, s6, 1, data, sizeof data); /* [6] */
    assert_false(fp_eq(&base, &other));
    fp_of(&base, ELVES_DT_F32, s6, 2, data, sizeof data); /* [6,1] */
    assert_false(fp_eq(&base, &other));

    fp_of(&base, ELVES_DT_F32, s23, 2, data, sizeof data);
    for (size_t i = 0; i < sizeof data; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            data[i] ^= (uint8_t)(1u << bit);
            fp_of(&other, ELVES_DT_F32, s23, 2, data, sizeof data);
            data[i] ^= (uint8_t)(1u << bit);
            assert_false(fp_eq(&base, &other));
        }
    }
    fp_of(&other, ELVES_DT_F32, s23, 2, data, sizeof data - 1);
    assert_false(fp_eq(&base, &other));
}

static void test_fp_empty_and_hex(void **state)
{
    elves_fp128 a, b;
    char hex[33];

    fp_of(&a, ELVES_DT_F32, NULL, 0, NULL, 0);
    fp_of(&b, ELVES_DT_F16, NULL, 0, NULL, 0);
    assert_false(fp_eq(&a, &b));
    elves_fp128_hex(hex, &a);
    assert_int_equal(strlen(hex), 32);
    for (int i = 0; i < 32; i++)
        assert_non_null(strchr("0123456789abcdef", hex[i]));
}

static void sha_hex(char out[65], const void *data, size_t len)
{
    uint8_t d[32];
    assert_int_equal(elves_sha256(d, data, len), ELVES_OK);
    elves_hex(out, d, 32);
}

static void test_sha256_vectors(void **state)
{
    char hex[65];
    static const char two_blocks[] =
        "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

    sha_hex(hex, "abc", 3);
    assert_string_equal(
        hex,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sha_hex(hex, "", 0);
    assert_string_equal(
        hex,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha_hex(hex, NULL, 0);
    assert_string_equal(
        hex,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha_hex(hex, two_blocks, strlen(two_blocks));
    assert_string_equal(
        hex,
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

    size_t n = 1000000;
    char *a = malloc(n);
    memset(a, 'a', n);
    sha_hex(hex, a, n);
    assert_string_equal(
        hex,
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}

static void test_sha256_streaming_equals_one_shot(void **state)
{
    size_t n = 300000;
    uint8_t *buf = malloc(n), one[32], streamed[32];
    uint64_t s = 88172645463325252ull;

    for (size_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        buf[i] = (uint8_t)s;
    }
    assert_int_equal(elves_sha256(one, buf, n), ELVES_OK);
    for (size_t step = 1; step < 100000; step = step * 3 + 1) {
        elves_sha256_ctx *ctx = NULL;
        assert_int_equal(elves_sha256_new(&ctx), ELVES_OK);
        for (size_t off = 0; off < n; off += step) {
            size_t k = n - off < step ? n - off : step;
            assert_int_equal(elves_sha256_update(ctx, buf + off, k), ELVES_OK);
            assert_int_equal(elves_sha256_update(ctx, NULL, 0), ELVES_OK);
        }
        assert_int_equal(elves_sha256_final(ctx, streamed), ELVES_OK);
        elves_sha256_free(ctx);
        assert_memory_equal(one, streamed, 32);
    }
    free(buf);
}

static void test_sha256_bad_args(void **state)
{
    uint8_t d[32];
    elves_sha256_ctx *ctx = NULL;

    assert_int_equal(elves_sha256(NULL, (const uint8_t *)"x", 1),
                     ELVES_E_INVALID);
    assert_int_equal(elves_sha256(d, NULL, 1), ELVES_E_INVALID);
    assert_int_equal(elves_sha256_new(NULL), ELVES_E_INVALID);
    assert_int_equal(elves_sha256_update(NULL, "x", 1), ELVES_E_INVALID);
    assert_int_equal(elves_sha256_new(&ctx), ELVES_OK);
    assert_int_equal(elves_sha256_update(ctx, NULL, 1), ELVES_E_INVALID);
    assert_int_equal(elves_sha256_final(ctx, NULL), ELVES_E_INVALID);
    elves_sha256_free(ctx);
    elves_sha256_free(NULL);
}

static void test_hex(void **state)
{
    const uint8_t b[4] = {0x00, 0x0f, 0xa5, 0xff};
    char out[9];

    elves_hex(out, b, 4);
    assert_string_equal(out, "000fa5ff");
    elves_hex(out, b, 0);
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fp_same_input_same_fp),
        cmocka_unit_test(test_fp_dtype_shape_bytes_matter),
        cmocka_unit_test(test_fp_empty_and_hex),
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_sha256_streaming_equals_one_shot),
        cmocka_unit_test(test_sha256_bad_args),
        cmocka_unit_test(test_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
