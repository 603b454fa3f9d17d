/*
 * test_segment.c - format detection and segmentation: safetensors, GGUF and
 * unknown files go where they should, malformed checkpoints fall back to one
 * OPAQUE segment with the parser's reason, and every shared checkpoint, as
 * is, truncated or corrupted, yields segments that tile it exactly.  Also
 * checks that elves_segments_check itself catches broken lists.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "elves.h"
#include "test_files.h"

/* Segments a file and checks the result tiles it; returns the list. */
static elves_segments *segment(const uint8_t *f, size_t len, elves_error *why)
{
    elves_segments *s = NULL;
    int rc = elves_segment_file(&s, f, len, why);
    assert_int_equal(rc, ELVES_OK);
    assert_non_null(s);
    elves_error err = {0};
    if (elves_segments_check(s, len, &err) != ELVES_OK)
        fail_msg("bad tiling of %zu bytes: %s", len, err.msg);
    if (s->format == ELVES_FMT_OPAQUE) {
        assert_int_equal(s->count, 1);
        assert_int_equal(s->items[0].kind, ELVES_SEG_OPAQUE);
    }
    return s;
}

static uint8_t *st_file(size_t *len, const char *json, size_t buf_len)
{
    size_t n = strlen(json);
    uint8_t *f = calloc(1, 8 + n + buf_len);
    assert_non_null(f);
    uint64_t n64 = n;
    memcpy(f, &n64, 8);
    memcpy(f + 8, json, n);
    *len = 8 + n + buf_len;
    return f;
}

/* GGUF v3, one kv, one F32 [4] tensor. */
static uint8_t *gguf_file(size_t *len, uint32_t version)
{
    static const uint8_t head[] = {'G', 'G', 'U', 'F', 3, 0, 0, 0, 1, 0, 0, 0,
                                   0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
                                   /* kv "a" = u8 7 */
                                   1, 0, 0, 0, 0, 0, 0, 0, 'a', 0, 0, 0, 0, 7,
                                   /* tensor "w": 1 dim of 4, F32, offset 0 */
                                   1, 0, 0, 0, 0, 0, 0, 0, 'w', 1, 0, 0, 0, 4,
                                   0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                   0, 0, 0, 0};
    assert_int_equal(sizeof head, 71); /* the data section starts at 96 */
    uint8_t *f = calloc(1, 96 + 16);
    assert_non_null(f);
    memcpy(f, head, sizeof head);
    memcpy(f + 4, &version, 4);
    *len = 96 + 16;
    return f;
}

static void test_detect_safetensors(void **state)
{
    size_t len;
    uint8_t *f = st_file(
        &len,
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
    elves_error why;
    elves_segments *s = segment(f, len, &why);
    assert_int_equal(s->format, ELVES_FMT_SAFETENSORS);
    assert_int_equal(why.code, ELVES_OK);
    assert_int_equal(s->count, 2);
    elves_segments_free(s);
    free(f);
}

static void test_detect_gguf(void **state)
{
    size_t len;
    uint8_t *f = gguf_file(&len, 3);
    elves_error why;
    elves_segments *s = segment(f, len, &why);
    assert_int_equal(s->format, ELVES_FMT_GGUF);
    assert_int_equal(why.code, ELVES_OK);
    assert_int_equal(s->count, 2);
    assert_int_equal(s->items[1].offset, 96);
    assert_int_equal(s->items[1].dtype, ELVES_DT_F32);
    elves_segments_free(s);
    free(f);
}

static void test_empty_file(void **state)
{
    elves_error why;
    elves_segments *s = segment(NULL, 0, &why);
    assert_int_equal(s->format, ELVES_FMT_OPAQUE);
    assert_int_equal(s->items[0].length, 0);
    assert_int_equal(why.code, ELVES_OK);
    elves_segments_free(s);
}

/* Files that do not look like checkpoints: no reason given. */
static void test_unknown_files(void **state)
{
    static const char *texts[] = {
        "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 4096}\n",
        "hello",
        "GGU",
        "\x08\0\0\0\0\0\0\0[1,2,3,4]",
        "\x02\0\0\0\0\0\0\0  ", /* whitespace but no '{' */
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        size_t len = i == 3 ? 17 : i == 4 ? 10 : strlen(texts[i]);
        elves_error why;
        elves_segments *s = segment((const uint8_t *)texts[i], len, &why);
        assert_int_equal(s->format, ELVES_FMT_OPAQUE);
        assert_int_equal(why.code, ELVES_OK);
        assert_string_equal(why.msg, "");
        elves_segments_free(s);
    }
}

static void expect_fallback(const uint8_t *f, size_t len, int code,
                            const char *needle)
{
    elves_error why;
    elves_segments *s = segment(f, len, &why);
    assert_int_equal(s->format, ELVES_FMT_OPAQUE);
    assert_int_equal(why.code, code);
    if (!strstr(why.msg, needle))
        fail_msg("why '%s' lacks '%s'", why.msg, needle);
    elves_segments_free(s);
}

static void test_fallback_with_reason(void **state)
{
    size_t len;
    uint8_t *f = st_file(&len, "{\"w\":{\"dtype\":\"F99\"}}", 0);
    expect_fallback(f, len, ELVES_E_FORMAT, "unknown dtype 'F99'");
    free(f);
    f = st_file(&len, " \n{}", 0); /* looks like one, but must begin '{' */
    expect_fallback(f, len, ELVES_E_FORMAT, "must begin with '{'");
    free(f);
    f = st_file(&len, "{}", 5);
    expect_fallback(f, len, ELVES_E_FORMAT, "trailing bytes");
    free(f);
    f = gguf_file(&len, 1);
    expect_fallback(f, len, ELVES_E_UNSUPPORTED, "version 1");
    free(f);
    f = gguf_file(&len, 3);
    expect_fallback(f, len - 1, ELVES_E_FORMAT, "past the end of the file");
    expect_fallback(f, 30, ELVES_E_FORMAT, "kv count 1 cannot fit");
    expect_fallback(f, 37, ELVES_E_FORMAT, "truncated: value");
    free(f);
}

static void test_null_arguments(void **state)
{
    elves_segments *s;
    elves_error why;
    assert_int_equal(elves_segment_file(NULL, (const uint8_t *)"x", 1, &why),
                     ELVES_E_INVALID);
    assert_int_equal(elves_segment_file(&s, NULL, 5, NULL), ELVES_E_INVALID);
    assert_int_equal(elves_segments_check(NULL, 0, NULL), ELVES_E_INVALID);
}

/* ---- the shared checkpoints, whole, truncated and corrupted -------------- */

/* Calls fn on every *.safetensors in ELVES_SHARED_DATA; returns how many. */
static size_t each_shared(void (*fn)(const uint8_t *, size_t))
{
    DIR *d = opendir(ELVES_SHARED_DATA);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 12 || strcmp(e->d_name + l - 12, ".safetensors") != 0)
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", ELVES_SHARED_DATA, e->d_name);
        size_t len = 0;
        uint8_t *f = test_read_file(path, &len);
        assert_non_null(f);
        fn(f, len);
        free(f);
        n++;
    }
    closedir(d);
    return n;
}

static void whole(const uint8_t *f, size_t len)
{
    elves_error why;
    elves_segments *s = segment(f, len, &why);
    assert_int_equal(s->format, ELVES_FMT_SAFETENSORS);
    assert_true(s->count > 10);
    elves_segments_free(s);
}

static void test_shared_files_tile(void **state)
{
    assert_int_equal(each_shared(whole), 13);
}

/* The safetensors length prefix of a file of at least 8 bytes. */
static uint64_t prefix(const uint8_t *f)
{
    uint64_t n;
    memcpy(&n, f, 8);
    return n;
}

/* A copy of exactly len bytes, so ASan catches any read past it. */
static void segment_copy(const uint8_t *f, size_t len, int want_st)
{
    uint8_t *g = malloc(len ? len : 1);
    assert_non_null(g);
    memcpy(g, f, len);
    elves_error why;
    elves_segments *s = segment(g, len, &why);
    if (want_st >= 0)
        assert_int_equal(s->format == ELVES_FMT_SAFETENSORS, want_st);
    if (s->format == ELVES_FMT_OPAQUE && len >= 9 && g[8] == '{' &&
        prefix(g) > 0 && prefix(g) <= len - 8)
        assert_int_not_equal(why.code, ELVES_OK);
    elves_segments_free(s);
    free(g);
}

static void truncated(const uint8_t *f, size_t len)
{
    size_t hdr = 8 + (size_t)prefix(f);
    const size_t cuts[] = {
        0,       1,       7,       8,       9,       hdr - 1,      hdr,
        hdr + 1, len / 2, len - 1, len - 2, hdr / 2, hdr - hdr / 3};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
        segment_copy(f, cuts[i], 0);
}

static void test_shared_files_truncated(void **state)
{
    assert_int_equal(each_shared(truncated), 13);
}

/* Flipped bytes in the header: whatever the parser decides, the result tiles
 * the file; flipped bytes in the data change nothing. */
static void corrupted(const uint8_t *f, size_t len)
{
    size_t hdr = 8 + (size_t)prefix(f);
    uint8_t *g = malloc(len);
    assert_non_null(g);
    uint64_t x = len;
    for (int round = 0; round < 200; round++) {
        memcpy(g, f, len);
        for (int k = 0; k < 1 + round % 3; k++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            size_t at = (size_t)(x >> 33) % (round < 20 ? 16 : hdr);
            g[at] ^= (uint8_t)(1u << ((x >> 20) & 7));
        }
        segment_copy(g, len, -1);
    }
    memcpy(g, f, len);
    for (size_t at = hdr; at < len; at += 997)
        g[at] ^= 0x5a;
    segment_copy(g, len, 1);
    free(g);
}

static void test_shared_files_corrupted(void **state)
{
    assert_int_equal(each_shared(corrupted), 13);
}

/* ---- the tiling check catches broken lists ------------------------------- */

static void test_check_catches(void **state)
{
    elves_segment items[3] = {
        {.kind = ELVES_SEG_HEADER, .offset = 0, .length = 10},
        {.kind = ELVES_SEG_TENSOR,
         .dtype = ELVES_DT_F32,
         .ndim = 1,
         .shape = {2},
         .offset = 10,
         .length = 8},
        {.kind = ELVES_SEG_PADDING, .offset = 18, .length = 2},
    };
    elves_segments s = {ELVES_FMT_GGUF, 20, 3, items, NULL};
    elves_error err;
    assert_int_equal(elves_segments_check(&s, 20, &err), ELVES_OK);
    assert_int_equal(elves_segments_check(&s, 21, &err), ELVES_E_INVALID);
    s.file_size = 21;
    assert_int_equal(elves_segments_check(&s, 21, &err), ELVES_E_INVALID);
    assert_non_null(strstr(err.msg, "segments end at 20"));
    s.file_size = 20;
    items[2].offset = 19; /* gap */
    assert_int_equal(elves_segments_check(&s, 20, &err), ELVES_E_INVALID);
    assert_non_null(strstr(err.msg, "segment 2 starts at 19, expected 18"));
    items[2].offset = 17; /* overlap */
    assert_int_equal(elves_segments_check(&s, 20, &err), ELVES_E_INVALID);
    items[2].offset = 18;
    items[2].length = UINT64_MAX; /* wraps */
    assert_int_equal(elves_segments_check(&s, 20, &err), ELVES_E_INVALID);
    items[2].length = 2;
    items[1].shape[0] = 3; /* length no longer matches the shape */
    assert_int_equal(elves_segments_check(&s, 20, &err), ELVES_E_INVALID);
    assert_non_null(strstr(err.msg, "does not match"));
    items[1].shape[0] = 2;
    items[0].dtype = ELVES_DT_U8; /* dtype on a header */
    assert_int_equal(elves_segments_check(&s, 20, &err), ELVES_E_INVALID);
    items[0].dtype = ELVES_DT_OPAQUE;
    items[1].ndim = 9;
    assert_int_equal(elves_segments_check(&s, 20, &err), ELVES_E_INVALID);
    items[1].ndim = 1;
    s.count = 0;
    assert_int_equal(elves_segments_check(&s, 20, &err), ELVES_E_INVALID);
}

/* Stored in the server's database and printed by the CLI: stable names. */
static void test_kind_names(void **state)
{
    (void)state;
    assert_string_equal(elves_seg_kind_name(ELVES_SEG_HEADER), "header");
    assert_string_equal(elves_seg_kind_name(ELVES_SEG_TENSOR), "tensor");
    assert_string_equal(elves_seg_kind_name(ELVES_SEG_PADDING), "padding");
    assert_string_equal(elves_seg_kind_name(ELVES_SEG_OPAQUE), "opaque");
    assert_string_equal(elves_seg_kind_name((elves_seg_kind)99), "opaque");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kind_names),
        cmocka_unit_test(test_detect_safetensors),
        cmocka_unit_test(test_detect_gguf),
        cmocka_unit_test(test_empty_file),
        cmocka_unit_test(test_unknown_files),
        cmocka_unit_test(test_fallback_with_reason),
        cmocka_unit_test(test_null_arguments),
        cmocka_unit_test(test_shared_files_tile),
        cmocka_unit_test(test_shared_files_truncated),
        cmocka_unit_test(test_shared_files_corrupted),
        cmocka_unit_test(test_check_catches),
    };
    return cmocka_run_group_tests_name("segment", tests, NULL, NULL);
}
