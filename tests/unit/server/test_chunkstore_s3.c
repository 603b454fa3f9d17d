/*
 * test_chunkstore_s3.c - the chunk store contract checked on every
 * backend: the local packs always, and the S3 packs when ELVES_TEST_S3
 * names a bucket (with ELVES_S3_ACCESS_KEY / ELVES_S3_SECRET_KEY; ctest's
 * unit.s3_rgw runs this program under tests/tools/with-rgw.sh, against a
 * real Ceph RGW).
 *
 * Both: round trips across several packs, a checksum that disagrees (500),
 * a container that is not there (404), iterate and drop, puts from several
 * threads at once, and compaction through the store's GC with the files
 * still byte-exact afterwards.  S3 only: a pack of several multipart parts,
 * a bit flipped in a stored pack, the three ways open fails (wrong secret,
 * missing bucket, no endpoint), and, through a proxy that answers 503 on
 * request (tests/tools/s3-fault-proxy.py), an upload and a ranged read that
 * succeed after retries and a service gone for good (503, and the chunks
 * put meanwhile are still there, intact, once it is back).
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "chunk_walk.h"
#include "chunkstore.h"
#include "s3.h"
#include "s3_test_util.h"
#include "store_test_util.h"

/* ---- the backend under test -------------------------------------------------
 */

static int use_s3; /* the group running */
static char *fs_dir;
static void open_cs(chunkstore *cs, uint64_t pack_max, uint64_t part_size)
{
    es_err err;
    int rc;
    if (use_s3) {
        s3_config c;
        s3_env_config(&c, NULL);
        rc = chunkstore_s3_open(cs, &c, pack_max, part_size, &err);
        s3_config_free(&c);
    } else {
        free(fs_dir);
        fs_dir = tu_tmpdir("cs");
        rc = chunkstore_fs_open(cs, fs_dir, pack_max, &err);
    }
    if (rc != 0)
        fail_msg("open: %d %s", err.status, err.msg);
}

static void close_cs(chunkstore *cs)
{
    chunkstore_close(cs);
    if (!use_s3 && fs_dir) {
        tu_rm_rf(fs_dir);
        free(fs_dir);
        fs_dir = NULL;
    }
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

static void expect_chunk(chunkstore *cs, const chunk_loc *loc,
                         const uint8_t *want)
{
    es_err err;
    uint8_t *buf = malloc(loc->length);
    if (chunkstore_get(cs, loc, 0, loc->length, buf, &err) != 0)
        fail_msg("get: %d %s", err.status, err.msg);
    assert_memory_equal(buf, want, loc->length);
    memset(buf, 0, loc->length);
    assert_int_equal(chunkstore_fetch(cs, loc, buf, &err), 0);
    assert_memory_equal(buf, want, loc->length);
    assert_int_equal(chunkstore_get(cs, loc, 7, 10, buf, &err), 0);
    assert_memory_equal(buf, want + 7, 10);
    free(buf);
}

/* ---- both backends ----------------------------------------------------------
 */

static void test_round_trip_packs(void **state)
{
    (void)state;
    chunkstore cs;
    es_err err;
    open_cs(&cs, 64 << 10, 0); /* a pack every few chunks */
    enum { N = 24, LEN = 20000 };
    static uint8_t data[N][LEN];
    chunk_loc loc[N];
    for (int i = 0; i < N; i++) {
        fill(data[i], LEN, (uint32_t)i);
        assert_int_equal(chunkstore_put(&cs, data[i], LEN, &loc[i], &err), 0);
        /* readable at once, before sync (from memory on S3) */
        expect_chunk(&cs, &loc[i], data[i]);
    }
    assert_int_equal(chunkstore_sync(&cs, &err), 0);
    assert_true(loc[N - 1].container != loc[0].container);
    for (int i = 0; i < N; i++)
        expect_chunk(&cs, &loc[i], data[i]);
    cw_walk w = {0};
    assert_int_equal(chunkstore_iterate(&cs, cw_record, &w, &err), 0);
    assert_true(w.n >= 6);
    uint64_t total = 0;
    for (size_t i = 0; i < w.n; i++)
        total += w.bytes[i];
    assert_true(total >= (uint64_t)N * (LEN + 16));
    /* a range past the chunk, and metadata that disagrees with the record */
    uint8_t buf[LEN];
    assert_int_equal(chunkstore_get(&cs, &loc[0], LEN - 5, 10, buf, &err), -1);
    chunk_loc bad = loc[3];
    bad.checksum ^= 1;
    assert_int_equal(chunkstore_get(&cs, &bad, 0, LEN, buf, &err), -1);
    assert_int_equal(err.status, 500);
    assert_non_null(strstr(err.msg, "corrupt"));
    bad = loc[3];
    bad.length -= 1;
    assert_int_equal(chunkstore_fetch(&cs, &bad, buf, &err), -1);
    assert_int_equal(err.status, 500);
    /* a container that never was */
    bad = loc[3];
    bad.container = ((uint64_t)1 << 61) + 12345;
    assert_int_equal(chunkstore_get(&cs, &bad, 0, LEN, buf, &err), -1);
    assert_int_equal(err.status, 404);
    close_cs(&cs);
}

static void test_iterate_drop(void **state)
{
    (void)state;
    chunkstore cs;
    es_err err;
    open_cs(&cs, 4096, 0);
    chunk_loc a, b, c;
    uint8_t data[3000];
    fill(data, sizeof data, 9);
    assert_int_equal(chunkstore_put(&cs, data, sizeof data, &a, &err), 0);
    assert_int_equal(chunkstore_put(&cs, data, sizeof data, &b, &err), 0);
    assert_int_equal(chunkstore_sync(&cs, &err), 0);
    assert_int_equal(chunkstore_put(&cs, data, sizeof data, &c, &err), 0);
    cw_walk w = {0};
    assert_int_equal(chunkstore_iterate(&cs, cw_record, &w, &err), 0);
    assert_true(cw_has(&w, a.container) && cw_has(&w, b.container) &&
                cw_has(&w, c.container));
    for (size_t i = 0; i < w.n; i++)
        assert_int_equal(w.open[i], w.ids[i] == c.container);
    /* the open pack cannot be dropped; a sealed one can, and is gone */
    assert_int_equal(chunkstore_drop(&cs, c.container, &err), -1);
    assert_int_equal(chunkstore_drop(&cs, a.container, &err), 0);
    uint8_t buf[3000];
    assert_int_equal(chunkstore_get(&cs, &a, 0, sizeof buf, buf, &err), -1);
    assert_int_equal(err.status, 404);
    expect_chunk(&cs, &b, data);
    expect_chunk(&cs, &c, data);
    memset(&w, 0, sizeof w);
    assert_int_equal(chunkstore_iterate(&cs, cw_record, &w, &err), 0);
    assert_false(cw_has(&w, a.container));
    /* dropping what is already gone is no error (a retried GC) */
    assert_int_equal(chunkstore_drop(&cs, a.container, &err), 0);
    assert_int_equal(chunkstore_del(&cs, &b, &err), 0);
    close_cs(&cs);
}

enum { THREADS = 4, PER_THREAD = 40, TLEN = 9000 };

typedef struct put_job {
    chunkstore *cs;
    int t;
    chunk_loc loc[PER_THREAD];
    int failed;
} put_job;

static void *put_many(void *arg)
{
    put_job *j = arg;
    uint8_t data[TLEN];
    es_err err;
    for (int i = 0; i < PER_THREAD; i++) {
        fill(data, TLEN, (uint32_t)(j->t * 1000 + i));
        if (chunkstore_put(j->cs, data, TLEN, &j->loc[i], &err) != 0)
            j->failed = 1;
        if (i % 10 == 9 && chunkstore_sync(j->cs, &err) != 0)
            j->failed = 1;
    }
    return NULL;
}

static void test_concurrent_puts(void **state)
{
    (void)state;
    chunkstore cs;
    es_err err;
    open_cs(&cs, 100 << 10, 0);
    static put_job jobs[THREADS];
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        jobs[t] = (put_job){.cs = &cs, .t = t};
        pthread_create(&th[t], NULL, put_many, &jobs[t]);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    assert_int_equal(chunkstore_sync(&cs, &err), 0);
    uint8_t want[TLEN];
    for (int t = 0; t < THREADS; t++) {
        assert_false(jobs[t].failed);
        for (int i = 0; i < PER_THREAD; i++) {
            fill(want, TLEN, (uint32_t)(t * 1000 + i));
            expect_chunk(&cs, &jobs[t].loc[i], want);
        }
    }
    close_cs(&cs);
}

/* What test_store_gc_compaction checks after GC and again after a
 * restart: the files left read back byte-exact (size and SHA-256). */
static void expect_files(es_store *st, const uint8_t *b, size_t blen,
                         const uint8_t *d, size_t dlen)
{
    tu_expect_content(st, "org/m", "b.safetensors", b, blen);
    tu_expect_content(st, "org/m", "d.bin", d, dlen);
}

/* A store on the backend under test: a.safetensors and b.safetensors share
 * tensor "w"; a and c.bin are deleted, so GC frees their other chunks,
 * drops what holds nothing live and compacts a's pack (w is still used),
 * and b and d.bin read back byte-exact, before and after a restart. */
static void test_store_gc_compaction(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("s3gc");
    s3_config c;
    char url[1024] = "";
    store_config cfg = {.data_dir = dir, .workers = 1, .compact_below = 0.9};
    if (use_s3) {
        s3_env_config(&c, NULL);
        s3_store_url(&c, url, sizeof url);
        cfg.chunk_store = url;
        cfg.s3_access_key = c.access_key;
        cfg.s3_secret_key = c.secret_key;
    }
    es_store *st = tu_open_config(&cfg);
    tu_make_repo(st, "org/m", NULL);
    tu_tensor ta[] = {{"w", 200000, 1}, {"x", 200000, 2}};
    tu_tensor tb[] = {{"w", 200000, 1}, {"y", 200000, 3}};
    size_t alen, blen, clen = 300000, dlen = 200000;
    uint8_t *a = tu_make_safetensors(ta, 2, &alen);
    uint8_t *b = tu_make_safetensors(tb, 2, &blen);
    uint8_t *cd = malloc(clen), *d = malloc(dlen);
    fill(cd, clen, 41);
    fill(d, dlen, 42);
    tu_upload(st, "org/m", "a.safetensors", a, alen);
    store_wait_idle(st);
    tu_upload(st, "org/m", "b.safetensors", b, blen);
    tu_upload(st, "org/m", "c.bin", cd, clen);
    tu_upload(st, "org/m", "d.bin", d, dlen);
    store_wait_idle(st);
    tu_expect_state(st, "org/m", "d.bin", "stored");
    store_close(st); /* the local store's open pack is sealed only now */
    st = tu_open_config(&cfg);
    /* the first chunk is a's first block of "w", which b shares */
    tdb *db = tdb_open(dir);
    int64_t chunks = tdb_q1(db, "SELECT count(*) FROM chunks");
    int64_t w_pack = tdb_q1(db, "SELECT pack FROM chunks ORDER BY id LIMIT 1");
    tdb_close(db);
    es_err err;
    assert_int_equal(
        store_file_delete(st, "org/m", NULL, "a.safetensors", &err), 0);
    assert_int_equal(store_file_delete(st, "org/m", NULL, "c.bin", &err), 0);
    store_wait_idle(st); /* a delete starts a collection of its own */
    tu_gc(st);
    db = tdb_open(dir);
    assert_true(tdb_q1(db, "SELECT count(*) FROM chunks") < chunks);
    /* w's chunk was copied out of a's pack, which is gone */
    assert_true(tdb_q1(db, "SELECT pack FROM chunks ORDER BY id LIMIT 1") !=
                w_pack);
    char q[128];
    snprintf(q, sizeof q, "SELECT count(*) FROM chunks WHERE pack = %lld",
             (long long)w_pack);
    assert_int_equal(tdb_q1(db, q), 0);
    tdb_close(db);
    expect_files(st, b, blen, d, dlen);
    store_close(st);
    st = tu_open_config(&cfg); /* from the bucket (or packs) alone */
    expect_files(st, b, blen, d, dlen);
    store_close(st);
    if (use_s3)
        s3_config_free(&c);
    free(a);
    free(b);
    free(cd);
    free(d);
    tu_rm_rf(dir);
    free(dir);
}

/* ---- S3 only ----------------------------------------------------------------
 */

static void test_multipart_pack(void **state)
{
    (void)state;
    chunkstore cs;
    es_err err;
    open_cs(&cs, 0, S3_PART_MIN); /* 64 MiB packs, 5 MiB parts */
    enum { N = 13, LEN = 1 << 20 };
    uint8_t *data = malloc((size_t)N * LEN);
    chunk_loc loc[N];
    for (int i = 0; i < N; i++) {
        fill(data + (size_t)i * LEN, LEN, (uint32_t)(500 + i));
        assert_int_equal(
            chunkstore_put(&cs, data + (size_t)i * LEN, LEN, &loc[i], &err), 0);
        assert_int_equal(loc[i].container, loc[0].container);
    }
    expect_chunk(&cs, &loc[12], data + (size_t)12 * LEN); /* from memory */
    assert_int_equal(chunkstore_sync(&cs, &err), 0);      /* 3 parts */
    for (int i = 0; i < N; i++)
        expect_chunk(&cs, &loc[i], data + (size_t)i * LEN);
    cw_walk w = {0};
    assert_int_equal(chunkstore_iterate(&cs, cw_record, &w, &err), 0);
    assert_int_equal(w.n, 1);
    assert_int_equal(w.bytes[0], (uint64_t)N * (LEN + 16));
    assert_false(w.open[0]);
    close_cs(&cs);
    free(data);
}

static void test_bit_flip_in_bucket(void **state)
{
    (void)state;
    s3_config c;
    s3_env_config(&c, NULL);
    chunkstore cs;
    es_err err;
    assert_int_equal(chunkstore_s3_open(&cs, &c, 0, 0, &err), 0);
    uint8_t data[5000];
    fill(data, sizeof data, 3);
    chunk_loc loc;
    assert_int_equal(chunkstore_put(&cs, data, sizeof data, &loc, &err), 0);
    assert_int_equal(chunkstore_sync(&cs, &err), 0);
    /* rewrite the pack object with one bit flipped */
    s3_client *cli;
    assert_int_equal(s3_client_new(&cli, &c, &err), 0);
    char key[512];
    snprintf(key, sizeof key, "%s/packs/%016llx", c.prefix,
             (unsigned long long)loc.container);
    uint8_t obj[5016];
    assert_int_equal(s3_get_range(cli, key, 0, sizeof obj, obj, &err), 0);
    obj[16 + 1234] ^= 1;
    assert_int_equal(s3_put_object(cli, key, obj, sizeof obj, &err), 0);
    uint8_t buf[5000];
    assert_int_equal(chunkstore_get(&cs, &loc, 0, sizeof buf, buf, &err), -1);
    assert_int_equal(err.status, 500);
    assert_non_null(strstr(err.msg, "checksum"));
    assert_int_equal(chunkstore_get(&cs, &loc, 0, 10, buf, &err), -1);
    /* a pack cut short: the ranged read comes back short */
    assert_int_equal(s3_put_object(cli, key, obj, 100, &err), 0);
    assert_int_equal(chunkstore_fetch(&cs, &loc, buf, &err), -1);
    assert_int_equal(err.status, 500);
    s3_client_free(cli);
    close_cs(&cs);
    s3_config_free(&c);
}

static void expect_open_fails(s3_config *c, int status, const char *what)
{
    chunkstore cs;
    es_err err = {0, ""};
    if (chunkstore_s3_open(&cs, c, 0, 0, &err) == 0)
        fail_msg("open succeeded, expected %d %s", status, what);
    print_message("  open: %d %s\n", err.status, err.msg);
    assert_int_equal(err.status, status);
    if (!strstr(err.msg, what))
        fail_msg("'%s' does not say '%s'", err.msg, what);
}

static void test_open_errors(void **state)
{
    (void)state;
    s3_config c;
    s3_env_config(&c, NULL);
    free(c.secret_key);
    c.secret_key = strdup("not-the-secret");
    expect_open_fails(&c, 403, "SignatureDoesNotMatch");
    free(c.access_key);
    c.access_key = strdup("NOSUCHKEY");
    expect_open_fails(&c, 403, "InvalidAccessKeyId");
    s3_config_free(&c);
    s3_env_config(&c, NULL);
    free(c.bucket);
    c.bucket = strdup("no-such-bucket-here");
    expect_open_fails(&c, 404, "NoSuchBucket");
    s3_config_free(&c);
    s3_env_config(&c, "http://127.0.0.1:9"); /* discard: nobody listens */
    expect_open_fails(&c, 503, "unreachable");
    s3_config_free(&c);
    /* through chunkstore_open and its URL */
    chunkstore cs;
    es_err err;
    chunkstore_config cc = {.backend = "s3",
                            .s3_url = "s3://x",
                            .s3_access_key = "a",
                            .s3_secret_key = "b"};
    assert_int_equal(chunkstore_open(&cs, &cc, &err), -1);
    assert_int_equal(err.status, 400);
    cc.s3_url = getenv("ELVES_TEST_S3");
    cc.s3_secret_key = NULL;
    assert_int_equal(chunkstore_open(&cs, &cc, &err), -1);
    assert_int_equal(err.status, 400);
    cc.s3_access_key = getenv("ELVES_S3_ACCESS_KEY");
    cc.s3_secret_key = getenv("ELVES_S3_SECRET_KEY");
    assert_int_equal(chunkstore_open(&cs, &cc, &err), 0);
    chunkstore_close(&cs);
}

/* ---- faults through the proxy (s3_test_util.h) --------------------------
 */

static void test_faults_retried_then_gone(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("s3proxy");
    proxy px;
    proxy_start(&px, dir, 0);
    s3_config c;
    s3_env_config(&c, px.endpoint);
    chunkstore cs;
    es_err err;
    assert_int_equal(chunkstore_s3_open(&cs, &c, 0, S3_PART_MIN, &err), 0);
    /* a pack of two parts whose uploads meet 503s: each request is retried */
    enum { N = 7, LEN = 1 << 20 };
    uint8_t *data = malloc((size_t)N * LEN);
    chunk_loc loc[N];
    proxy_arm(&px, "PUT 2 partNumber\nPOST 1 uploadId\n");
    for (int i = 0; i < N; i++) {
        fill(data + (size_t)i * LEN, LEN, (uint32_t)(900 + i));
        assert_int_equal(
            chunkstore_put(&cs, data + (size_t)i * LEN, LEN, &loc[i], &err), 0);
    }
    if (chunkstore_sync(&cs, &err) != 0)
        fail_msg("sync: %s", err.msg);
    assert_int_equal(proxy_left(&px), 0);
    /* ranged reads that meet 503s */
    proxy_arm(&px, "GET 3 range\n");
    for (int i = 0; i < N; i++)
        expect_chunk(&cs, &loc[i], data + (size_t)i * LEN);
    assert_int_equal(proxy_left(&px), 0);
    /* a service that keeps answering 503: a clear 503 after the tries */
    proxy_arm(&px, "GET 100 range\n");
    uint8_t *buf = malloc(LEN);
    assert_int_equal(chunkstore_get(&cs, &loc[0], 0, LEN, buf, &err), -1);
    assert_int_equal(err.status, 503);
    assert_non_null(strstr(err.msg, "kept failing"));
    proxy_arm(&px, "");
    /* gone for good: puts still take chunks (memory), sync and reads of
     * sealed packs answer 503; the chunks of the open pack still read */
    proxy_stop(&px);
    chunk_loc late;
    uint8_t small[3000];
    fill(small, sizeof small, 1);
    assert_int_equal(chunkstore_put(&cs, small, sizeof small, &late, &err), 0);
    assert_int_equal(chunkstore_sync(&cs, &err), -1);
    assert_int_equal(err.status, 503);
    assert_non_null(strstr(err.msg, "unreachable"));
    print_message("  sync with the service gone: %s\n", err.msg);
    assert_int_equal(chunkstore_get(&cs, &loc[1], 0, LEN, buf, &err), -1);
    assert_int_equal(err.status, 503);
    expect_chunk(&cs, &late, small);
    cw_walk w = {0};
    assert_int_equal(chunkstore_iterate(&cs, cw_record, &w, &err), -1);
    assert_int_equal(err.status, 503);
    /* back on the same port: the sync goes through, nothing was lost */
    proxy_start(&px, dir, px.port);
    assert_int_equal(chunkstore_sync(&cs, &err), 0);
    expect_chunk(&cs, &late, small);
    for (int i = 0; i < N; i++)
        expect_chunk(&cs, &loc[i], data + (size_t)i * LEN);
    proxy_stop(&px);
    free(buf);
    free(data);
    close_cs(&cs);
    s3_config_free(&c);
    tu_rm_rf(dir);
    free(dir);
}

static int group_fs(void **state)
{
    (void)state;
    use_s3 = 0;
    return 0;
}

static int group_s3(void **state)
{
    (void)state;
    use_s3 = 1;
    return 0;
}

int main(void)
{
    const struct CMUnitTest both[] = {
        cmocka_unit_test(test_round_trip_packs),
        cmocka_unit_test(test_iterate_drop),
        cmocka_unit_test(test_concurrent_puts),
        cmocka_unit_test(test_store_gc_compaction),
    };
    const struct CMUnitTest s3_only[] = {
        cmocka_unit_test(test_round_trip_packs),
        cmocka_unit_test(test_iterate_drop),
        cmocka_unit_test(test_concurrent_puts),
        cmocka_unit_test(test_store_gc_compaction),
        cmocka_unit_test(test_multipart_pack),
        cmocka_unit_test(test_bit_flip_in_bucket),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_faults_retried_then_gone),
    };
    int rc = cmocka_run_group_tests_name("fs", both, group_fs, NULL);
    if (getenv("ELVES_TEST_S3") && *getenv("ELVES_TEST_S3"))
        rc |= cmocka_run_group_tests_name("s3", s3_only, group_s3, NULL);
    else
        print_message("ELVES_TEST_S3 not set: the S3 group runs under "
                      "ctest's unit.s3_rgw (tests/tools/with-rgw.sh)\n");
    return rc;
}
