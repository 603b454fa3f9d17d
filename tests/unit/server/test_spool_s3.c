/*
 * test_spool_s3.c - the spool's copy in the object store (spool_remote.c),
 * on a real Ceph RGW when ELVES_TEST_S3 names a bucket (ctest's
 * unit.s3_rgw runs this program under tests/tools/with-rgw.sh).
 *
 * Local spool: a body of several parts streams nothing.  S3: a body of
 * several parts is a multipart upload in flight (listed, parts
 * acknowledged) before the body ends, and the object it makes has the
 * body's SHA-256; a body of one part is one PUT at the seal; through a
 * proxy that answers 503 (tests/tools/s3-fault-proxy.py), a part that keeps
 * failing during the body, and a CompleteMultipartUpload that keeps failing
 * at the seal, both fail the upload with 503 and leave no object, no
 * multipart upload in progress and no file recorded; an upload cancelled
 * mid-body (the client went away) aborts its multipart upload.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "s3.h"
#include "s3_test_util.h"
#include "store_internal.h"
#include "store_test_util.h"

#define PART ((size_t)16 << 20) /* SPOOL_PART of spool_remote.c */
#define STEP ((size_t)256 << 10) /* bytes per write, as an HTTP body comes */

/* ---- a store and a direct client on one fresh prefix ------------------------
 */

typedef struct bucket {
    s3_config c;     /* the RGW itself, never the proxy */
    s3_client *cli;
    char spool[512]; /* "PREFIX/spool/" */
    char *dir;
    es_store *st;
    int proxied; /* the store reaches the RGW through px */
    proxy px;
} bucket;

/* A store whose chunks and spool objects live under a fresh prefix,
 * reached directly or (proxied) through a fault proxy of its own. */
static void bucket_open(bucket *b, int proxied)
{
    es_err err;
    memset(b, 0, sizeof *b);
    s3_env_config(&b->c, NULL);
    assert_int_equal(s3_client_new(&b->cli, &b->c, &err), 0);
    snprintf(b->spool, sizeof b->spool, "%s/spool/", b->c.prefix);
    b->dir = tu_tmpdir("spools3");
    b->proxied = proxied;
    char url[2048];
    char *direct = b->c.endpoint;
    if (proxied) {
        proxy_start(&b->px, b->dir, 0);
        b->c.endpoint = b->px.endpoint;
    }
    s3_store_url(&b->c, url, sizeof url);
    b->c.endpoint = direct;
    store_config cfg = {.data_dir = b->dir,
                        .workers = 1,
                        .chunk_store = url,
                        .s3_access_key = b->c.access_key,
                        .s3_secret_key = b->c.secret_key};
    b->st = tu_open_config(&cfg);
    tu_make_repo(b->st, "org/m", NULL);
}

static void bucket_close(bucket *b)
{
    store_close(b->st);
    if (b->proxied)
        proxy_stop(&b->px);
    s3_client_free(b->cli);
    s3_config_free(&b->c);
    tu_rm_rf(b->dir);
    free(b->dir);
}

static int count_upload(void *ctx, const s3_upload *u)
{
    (void)u;
    ++*(int *)ctx;
    return 0;
}

static int count_object(void *ctx, const s3_object *o)
{
    (void)o;
    ++*(int *)ctx;
    return 0;
}

/* Multipart uploads in progress under the spool prefix. */
static int uploads_in_flight(bucket *b)
{
    es_err err;
    int n = 0;
    if (s3_multipart_list(b->cli, b->spool, count_upload, &n, &err) != 0)
        fail_msg("list uploads: %d %s", err.status, err.msg);
    return n;
}

static int spool_objects(bucket *b)
{
    es_err err;
    int n = 0;
    if (s3_list(b->cli, b->spool, count_object, &n, &err) != 0)
        fail_msg("list: %d %s", err.status, err.msg);
    return n;
}

/* Waits up to 20 s for uploads_in_flight to be want. */
static void wait_uploads(bucket *b, int want)
{
    double end = tu_now_s() + 20;
    while (uploads_in_flight(b) != want && tu_now_s() < end)
        usleep(20000);
    assert_int_equal(uploads_in_flight(b), want);
}

static uint8_t *make_body(size_t len, uint32_t seed)
{
    uint8_t *p = malloc(len);
    for (size_t i = 0; i < len; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
    return p;
}

/* Writes body[from, to) in STEPs; returns -1 (err set) at the first write
 * that fails. */
static int write_range(store_spool *sp, const uint8_t *body, size_t from,
                       size_t to, es_err *err)
{
    for (size_t off = from; off < to; off += STEP) {
        size_t n = to - off < STEP ? to - off : STEP;
        if (store_spool_write(sp, body + off, n, err) != 0)
            return -1;
    }
    return 0;
}

/* The SHA-256 of the whole object key, read back in parts. */
static void object_sha(bucket *b, const char *key, uint64_t size,
                       char hex[65])
{
    es_err err;
    uint8_t *all = malloc(size ? size : 1);
    for (uint64_t off = 0; off < size; off += PART) {
        size_t n = size - off < PART ? (size_t)(size - off) : PART;
        if (s3_get_range(b->cli, key, off, n, all + off, &err) != 0)
            fail_msg("get %s: %d %s", key, err.status, err.msg);
    }
    tu_sha_hex(hex, all, (size_t)size);
    free(all);
}

static void expect_nothing_left(bucket *b)
{
    es_err err;
    json_t *files = NULL;
    assert_int_equal(uploads_in_flight(b), 0);
    assert_int_equal(spool_objects(b), 0);
    assert_int_equal(store_file_list(b->st, "org/m", NULL, &files, &err), 0);
    assert_int_equal(json_array_size(files), 0);
    json_decref(files);
}

/* ---- local spool --------------------------------------------------------------
 */

static void test_local_spool_streams_nothing(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("spoolfs");
    es_store *st = tu_open(dir, 1);
    tu_make_repo(st, "org/m", NULL);
    size_t len = 2 * PART + 12345;
    uint8_t *body = make_body(len, 1);
    store_spool *sp;
    es_err err;
    json_t *out = NULL;
    assert_int_equal(store_spool_begin(st, &sp, &err), 0);
    assert_int_equal(write_range(sp, body, 0, len, &err), 0);
    assert_int_equal(spool_streamed(sp), 0);
    assert_int_equal(
        store_spool_commit(st, sp, "org/m", NULL, "w.bin", NULL, &out, &err),
        0);
    char want[65];
    tu_sha_hex(want, body, len);
    assert_string_equal(json_string_value(json_object_get(out, "sha256")),
                        want);
    json_decref(out);
    tu_expect_content(st, "org/m", "w.bin", body, len);
    store_close(st);
    free(body);
    tu_rm_rf(dir);
    free(dir);
}

/* ---- S3 -------------------------------------------------------------------------
 */

/* Five parts and a bit: the multipart upload is listed and has parts
 * acknowledged while the body is still coming; after the seal the object
 * is the body. */
static void test_streamed_while_body_arrives(void **state)
{
    (void)state;
    bucket b;
    bucket_open(&b, 0);
    size_t len = 5 * PART + 777;
    uint8_t *body = make_body(len, 2);
    store_spool *sp;
    es_err err;
    assert_int_equal(store_spool_begin(b.st, &sp, &err), 0);
    assert_int_equal(write_range(sp, body, 0, PART, &err), 0);
    assert_int_equal(uploads_in_flight(&b), 0); /* one part: no stream yet */
    assert_int_equal(write_range(sp, body, PART, 4 * PART + 1, &err), 0);
    wait_uploads(&b, 1);
    /* the writer never runs more than 3 parts ahead of the bucket */
    uint64_t early = spool_streamed(sp);
    print_message("  before the body ends: %llu MiB acknowledged\n",
                  (unsigned long long)(early >> 20));
    assert_true(early >= 2 * PART); /* 4 parts + 1 byte written */
    assert_int_equal(early % PART, 0);
    assert_int_equal(write_range(sp, body, 4 * PART + 1, len, &err), 0);
    char sha[65], name[80], want[65];
    uint64_t size;
    if (spool_seal(sp, sha, &size, name, &err) != 0)
        fail_msg("seal: %d %s", err.status, err.msg);
    tu_sha_hex(want, body, len);
    assert_string_equal(sha, want);
    assert_int_equal(size, len);
    assert_int_equal(uploads_in_flight(&b), 0);
    char key[1200], got[65];
    snprintf(key, sizeof key, "%s%s", b.spool, name);
    object_sha(&b, key, size, got);
    assert_string_equal(got, want);
    spool_release(sp, 1); /* not recorded: the file and object go */
    assert_int_equal(spool_objects(&b), 0);
    free(body);
    bucket_close(&b);
}

/* Through the whole upload path: a body of exactly one part is one PUT, a
 * body of two and a half parts is streamed; both are served back
 * byte-exact. */
static void test_commit_one_put_and_streamed(void **state)
{
    (void)state;
    bucket b;
    bucket_open(&b, 0);
    size_t big = 2 * PART + PART / 2;
    uint8_t *body = make_body(big, 3);
    es_err err;
    store_spool *sp;
    json_t *out = NULL;
    assert_int_equal(store_spool_begin(b.st, &sp, &err), 0);
    assert_int_equal(write_range(sp, body, 0, PART, &err), 0);
    assert_int_equal(spool_streamed(sp), 0);
    assert_int_equal(
        store_spool_commit(b.st, sp, "org/m", NULL, "one.bin", NULL, &out, &err),
        0);
    json_decref(out);
    assert_int_equal(store_spool_begin(b.st, &sp, &err), 0);
    assert_int_equal(write_range(sp, body, 0, big, &err), 0);
    if (store_spool_commit(b.st, sp, "org/m", NULL, "big.bin", NULL, &out,
                           &err) != 0)
        fail_msg("commit: %d %s", err.status, err.msg);
    char want[65];
    tu_sha_hex(want, body, big);
    assert_string_equal(json_string_value(json_object_get(out, "sha256")),
                        want);
    json_decref(out);
    assert_int_equal(uploads_in_flight(&b), 0);
    tu_expect_content(b.st, "org/m", "one.bin", body, PART);
    tu_expect_content(b.st, "org/m", "big.bin", body, big);
    free(body);
    bucket_close(&b);
}

/* A part that keeps meeting 503 during the body: a write fails with 503,
 * and by then the multipart upload is aborted. */
static void test_503_during_body(void **state)
{
    (void)state;
    bucket b;
    bucket_open(&b, 1);
    proxy_arm(&b.px, "PUT 1000 partNumber=2&\n");
    size_t len = 6 * PART;
    uint8_t *body = make_body(len, 4);
    store_spool *sp;
    es_err err = {0, ""};
    assert_int_equal(store_spool_begin(b.st, &sp, &err), 0);
    assert_int_equal(write_range(sp, body, 0, len, &err), -1);
    print_message("  write: %d %s\n", err.status, err.msg);
    assert_int_equal(err.status, 503);
    assert_non_null(strstr(err.msg, "object store"));
    store_spool_abort(sp); /* what the HTTP layer does then */
    expect_nothing_left(&b);
    free(body);
    bucket_close(&b);
}

/* Failures at the seal: CompleteMultipartUpload of a streamed body, and
 * the one PUT of a small body, keep meeting 503: the commit answers 503
 * and records nothing. */
static void test_503_at_seal(void **state)
{
    (void)state;
    bucket b;
    bucket_open(&b, 1);
    size_t len = 2 * PART + 99;
    uint8_t *body = make_body(len, 5);
    const char *faults[] = {"POST 1000 uploadId\n", "PUT 1000 .spool\n"};
    size_t lens[] = {len, 4096};
    for (int i = 0; i < 2; i++) {
        store_spool *sp;
        es_err err = {0, ""};
        json_t *out = NULL;
        proxy_arm(&b.px, faults[i]);
        assert_int_equal(store_spool_begin(b.st, &sp, &err), 0);
        assert_int_equal(write_range(sp, body, 0, lens[i], &err), 0);
        assert_int_equal(store_spool_commit(b.st, sp, "org/m", NULL, "f.bin",
                                            NULL, &out, &err),
                         -1);
        print_message("  commit: %d %s\n", err.status, err.msg);
        assert_int_equal(err.status, 503);
        assert_non_null(strstr(err.msg, "object store"));
        assert_null(out);
        expect_nothing_left(&b);
    }
    free(body);
    bucket_close(&b);
}

/* The client goes away mid-body: the multipart upload is aborted, and
 * the store closes only once it is. */
static void test_cancelled_upload_aborts(void **state)
{
    (void)state;
    bucket b;
    bucket_open(&b, 0);
    size_t len = 3 * PART;
    uint8_t *body = make_body(len, 6);
    store_spool *sp;
    es_err err;
    assert_int_equal(store_spool_begin(b.st, &sp, &err), 0);
    assert_int_equal(write_range(sp, body, 0, len, &err), 0);
    wait_uploads(&b, 1);
    store_spool_abort(sp);
    wait_uploads(&b, 0);
    expect_nothing_left(&b);
    /* again, closing the store at once: close waits for the abort */
    assert_int_equal(store_spool_begin(b.st, &sp, &err), 0);
    assert_int_equal(write_range(sp, body, 0, len, &err), 0);
    wait_uploads(&b, 1);
    store_spool_abort(sp);
    store_close(b.st);
    assert_int_equal(uploads_in_flight(&b), 0);
    assert_int_equal(spool_objects(&b), 0);
    b.st = NULL; /* closed */
    free(body);
    bucket_close(&b);
}

int main(void)
{
    const struct CMUnitTest local[] = {
        cmocka_unit_test(test_local_spool_streams_nothing),
    };
    const struct CMUnitTest s3[] = {
        cmocka_unit_test(test_streamed_while_body_arrives),
        cmocka_unit_test(test_commit_one_put_and_streamed),
        cmocka_unit_test(test_503_during_body),
        cmocka_unit_test(test_503_at_seal),
        cmocka_unit_test(test_cancelled_upload_aborts),
    };
    int rc = cmocka_run_group_tests_name("local", local, NULL, NULL);
    if (getenv("ELVES_TEST_S3") && *getenv("ELVES_TEST_S3"))
        rc |= cmocka_run_group_tests_name("s3", s3, NULL, NULL);
    else
        print_message("ELVES_TEST_S3 not set: the S3 group runs under "
                      "ctest's unit.s3_rgw (tests/tools/with-rgw.sh)\n");
    return rc;
}
