/*
 * test_hf_commit.c - server/hf/hf_commit.c: the NDJSON commit body of the
 * Hugging Face API, each line kind, the errors clients see, and cutting a
 * stream into lines wherever the network splits it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hf_commit.h"

static int parse(const char *line, hf_line *l, es_err *e)
{
    memset(e, 0, sizeof *e);
    return hf_line_parse(line, strlen(line), l, e);
}

static void test_kinds(void **state)
{
    hf_line l;
    es_err e;
    assert_int_equal(parse("{\"key\":\"header\",\"value\":{\"summary\":\"s\","
                           "\"parentCommit\":\"abc\"}}",
                           &l, &e),
                     0);
    assert_int_equal(l.kind, HF_LINE_HEADER);
    assert_string_equal(l.summary, "s");
    assert_string_equal(l.parent, "abc");
    assert_null(l.description);
    hf_line_free(&l);

    assert_int_equal(parse("{\"key\":\"file\",\"value\":{\"path\":\"a/b.json\","
                           "\"content\":\"aGVsbG8=\",\"encoding\":\"base64\"}}",
                           &l, &e),
                     0);
    assert_int_equal(l.kind, HF_LINE_FILE);
    assert_string_equal(l.path, "a/b.json");
    assert_int_equal(l.content_len, 5);
    assert_memory_equal(l.content, "hello", 5);
    hf_line_free(&l);

    char lfs[300];
    snprintf(lfs, sizeof lfs,
             "{\"key\":\"lfsFile\",\"value\":{\"path\":\"m.safetensors\","
             "\"oid\":\"%064d\",\"size\":12}}",
             7);
    assert_int_equal(parse(lfs, &l, &e), 0);
    assert_int_equal(l.kind, HF_LINE_LFS);
    assert_int_equal(l.size, 12);
    assert_true(l.has_size);
    assert_true(hf_is_sha256_hex(l.oid));
    hf_line_free(&l);

    /* a copy (CommitOperationCopy): the oid alone */
    snprintf(lfs, sizeof lfs,
             "{\"key\":\"lfsFile\",\"value\":{\"path\":\"copy.bin\","
             "\"algo\":\"sha256\",\"oid\":\"%064d\"}}",
             7);
    assert_int_equal(parse(lfs, &l, &e), 0);
    assert_int_equal(l.kind, HF_LINE_LFS);
    assert_false(l.has_size);
    assert_string_equal(l.path, "copy.bin");
    hf_line_free(&l);

    assert_int_equal(
        parse("{\"key\":\"deletedFolder\",\"value\":{\"path\":\"logs\"}}", &l,
              &e),
        0);
    assert_int_equal(l.kind, HF_LINE_DELETE_FOLDER);
    assert_string_equal(l.path, "logs");
    hf_line_free(&l);

    assert_int_equal(parse("\r", &l, &e), 0);
    assert_int_equal(l.kind, HF_LINE_BLANK);
    hf_line_free(&l);
}

static void expect_error(const char *line, const char *want)
{
    hf_line l;
    es_err e;
    assert_int_equal(parse(line, &l, &e), -1);
    assert_int_equal(e.status, 400);
    assert_non_null(strstr(e.msg, want));
    hf_line_free(&l);
}

static void test_errors(void **state)
{
    expect_error("not json", "each line must be");
    expect_error("{\"key\":\"file\"}", "each line must be");
    expect_error("{\"key\":\"rename\",\"value\":{}}",
                 "unknown commit operation 'rename'");
    expect_error("{\"key\":\"deletedFile\",\"value\":{}}",
                 "operation without a \"path\"");
    expect_error("{\"key\":\"file\",\"value\":{\"path\":\"x\",\"content\":"
                 "\"abc\"}}",
                 "file 'x': content must be base64");
    expect_error("{\"key\":\"file\",\"value\":{\"path\":\"x\",\"content\":"
                 "\"aGk=\",\"encoding\":\"utf-8\"}}",
                 "content must be base64");
    expect_error("{\"key\":\"lfsFile\",\"value\":{\"path\":\"y\",\"oid\":"
                 "\"ABC\",\"size\":1}}",
                 "lfsFile 'y': needs oid (sha256)");
    expect_error("{\"key\":\"lfsFile\",\"value\":{\"path\":\"y\",\"oid\":"
                 "\"0000000000000000000000000000000000000000000000000000000000000000\","
                 "\"size\":-1}}",
                 "a size, if any, that is a count");
}

typedef struct seen {
    char text[256];
    size_t n;
} seen;

static int collect(void *ctx, const char *line, size_t len)
{
    seen *s = ctx;
    size_t at = strlen(s->text);
    snprintf(s->text + at, sizeof s->text - at, "[%.*s]", (int)len, line);
    s->n++;
    return 0;
}

static void test_lines_any_split(void **state)
{
    const char *body = "a\nbb\n\nccc"; /* no final newline */
    for (size_t piece = 1; piece <= strlen(body); piece++) {
        hf_ndjson nj = {0};
        seen s = {"", 0};
        es_err e = {0};
        for (size_t at = 0; at < strlen(body); at += piece) {
            size_t n = strlen(body) - at < piece ? strlen(body) - at : piece;
            assert_int_equal(hf_ndjson_feed(&nj, body + at, n, collect, &s, &e),
                             0);
        }
        hf_ndjson_finish(&nj, collect, &s);
        assert_string_equal(s.text, "[a][bb][][ccc]");
        hf_ndjson_free(&nj);
    }
}

static int stop_at_first(void *ctx, const char *line, size_t len)
{
    (*(int *)ctx)++;
    return 1;
}

static void test_stop_and_limit(void **state)
{
    hf_ndjson nj = {0};
    es_err e = {0};
    int calls = 0;
    assert_int_equal(
        hf_ndjson_feed(&nj, "x\ny\n", 4, stop_at_first, &calls, &e), 1);
    assert_int_equal(calls, 1);
    hf_ndjson_free(&nj);

    size_t big = HF_COMMIT_LINE_MAX + 1;
    char *junk = malloc(big);
    memset(junk, 'a', big);
    assert_int_equal(hf_ndjson_feed(&nj, junk, big, collect, NULL, &e), -1);
    assert_int_equal(e.status, 413);
    hf_ndjson_free(&nj);
    free(junk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_lines_any_split),
        cmocka_unit_test(test_stop_and_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
