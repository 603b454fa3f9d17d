/*
 * test_store_chunkstore.c - the local chunk store on its own (put, ranged
 * get, checksum on every read, pack roll-over, iterate, drop, a new pack per
 * open) and what a chunk store that keeps failing (fault_chunkstore.h)
 * does to a job: after its retries the file is marked failed with the
 * reason, and it stays downloadable from its spool (on the S3 chunk store
 * too when ELVES_TEST_S3 names a bucket); with a grace time GC leaves
 * young containers; on S3, GC removes the spool objects no row names once
 * older than the grace time, and only those.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <time.h>
#include <utime.h>

#include "chunk_walk.h"
#include "chunkstore.h"
#include "fault_chunkstore.h"
#include "s3_test_util.h"
#include "store_test_util.h"

static void test_put_get_iterate_drop(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("cs");
    chunkstore cs;
    es_err err;
    /* tiny packs so that a few chunks roll over */
    assert_int_equal(chunkstore_fs_open(&cs, dir, 4096, &err), 0);
    chunk_loc loc[10];
    uint8_t data[10][1000];
    for (int i = 0; i < 10; i++) {
        memset(data[i], 'a' + i, sizeof data[i]);
        data[i][i] = (uint8_t)i;
        assert_int_equal(
            chunkstore_put(&cs, data[i], sizeof data[i], &loc[i], &err), 0);
    }
    assert_int_equal(chunkstore_sync(&cs, &err), 0);
    assert_true(loc[9].container > loc[0].container); /* rolled over */
    uint8_t buf[1000];
    for (int i = 0; i < 10; i++) {
        assert_int_equal(chunkstore_get(&cs, &loc[i], 0, 1000, buf, &err), 0);
        assert_memory_equal(buf, data[i], 1000);
        assert_int_equal(chunkstore_get(&cs, &loc[i], 5, 10, buf, &err), 0);
        assert_memory_equal(buf, data[i] + 5, 10);
    }
    assert_int_equal(chunkstore_get(&cs, &loc[0], 995, 10, buf, &err), -1);
    /* metadata that disagrees with the record is refused */
    chunk_loc bad = loc[1];
    bad.checksum ^= 1;
    assert_int_equal(chunkstore_get(&cs, &bad, 0, 1000, buf, &err), -1);
    assert_int_equal(err.status, 500);
    cw_walk w = {0};
    assert_int_equal(chunkstore_iterate(&cs, cw_record, &w, &err), 0);
    assert_true(w.n >= 3);
    assert_int_equal(w.ids[0], loc[0].container);
    assert_true(w.open[w.n - 1]);
    assert_false(w.open[0]);
    /* the open pack cannot be dropped; a closed one can, and then reads of
     * it say "gone" (404) so readers can look the chunk up again */
    assert_int_equal(chunkstore_drop(&cs, w.ids[w.n - 1], &err), -1);
    assert_int_equal(chunkstore_drop(&cs, loc[0].container, &err), 0);
    assert_int_equal(chunkstore_get(&cs, &loc[0], 0, 1000, buf, &err), -1);
    assert_int_equal(err.status, 404);
    chunkstore_close(&cs);
    /* a new open never appends to an old pack */
    assert_int_equal(chunkstore_fs_open(&cs, dir, 4096, &err), 0);
    chunk_loc again;
    assert_int_equal(chunkstore_put(&cs, "x", 1, &again, &err), 0);
    assert_true(again.container > loc[9].container);
    assert_int_equal(chunkstore_get(&cs, &loc[9], 0, 1000, buf, &err), 0);
    assert_memory_equal(buf, data[9], 1000);
    chunkstore_close(&cs);
    tu_rm_rf(dir);
    free(dir);
}

static void test_bit_flip_detected(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("csflip");
    chunkstore cs;
    es_err err;
    assert_int_equal(chunkstore_fs_open(&cs, dir, 0, &err), 0);
    uint8_t data[5000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7);
    chunk_loc loc;
    assert_int_equal(chunkstore_put(&cs, data, sizeof data, &loc, &err), 0);
    assert_int_equal(chunkstore_sync(&cs, &err), 0);
    char path[4200];
    snprintf(path, sizeof path, "%s/pack-%012llu.pack", dir,
             (unsigned long long)loc.container);
    int fd = open(path, O_RDWR);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, (off_t)loc.offset + 16 + 1234), 1);
    b ^= 1;
    assert_int_equal(pwrite(fd, &b, 1, (off_t)loc.offset + 16 + 1234), 1);
    close(fd);
    uint8_t buf[5000];
    assert_int_equal(chunkstore_get(&cs, &loc, 0, sizeof buf, buf, &err), -1);
    assert_int_equal(err.status, 500);
    assert_non_null(strstr(err.msg, "corrupt"));
    /* a ranged read far from the flipped byte is refused too */
    assert_int_equal(chunkstore_get(&cs, &loc, 0, 10, buf, &err), -1);
    chunkstore_close(&cs);
    tu_rm_rf(dir);
    free(dir);
}

/* The chunk store the store tests below run on: the local packs, or the
 * bucket ELVES_TEST_S3 names (ctest's unit.s3_rgw sets it, running this
 * program again against a real Ceph RGW). */
static const char *chunk_store;

/* One worker on chunk store cs (NULL: the local packs) through fc. */
static store_config faulty_config(const char *dir, const char *cs,
                                  fc_state *fc)
{
    return (store_config){.data_dir = dir,
                          .workers = 1,
                          .chunk_store = cs,
                          .s3_access_key = getenv("ELVES_S3_ACCESS_KEY"),
                          .s3_secret_key = getenv("ELVES_S3_SECRET_KEY"),
                          .wrap_chunks = fc_wrap,
                          .wrap_ctx = fc};
}

static void test_failed_job_served_from_spool(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("failjob");
    fc_state fc;
    fc_init(&fc);
    store_config cfg = faulty_config(dir, chunk_store, &fc);
    es_store *st = tu_open_config(&cfg);
    es_err err;
    json_t *j = NULL;
    assert_int_equal(store_repo_create(st, "org/m", NULL, &j, &err), 0);
    json_decref(j);
    /* the chunk store takes no chunk: every attempt of the job fails */
    fc_fail(&fc, FC_PUT, 1, FC_LASTING, 500,
            "pack write: No space left on device");
    const char *text = "some bytes that will not get compressed\n";
    j = tu_upload_bytes(st, "org/m", "t.txt", text, strlen(text), &err);
    assert_non_null(j);
    int64_t job_id = tu_json_int(j, "job_id");
    json_decref(j);
    store_wait_idle(st);
    assert_int_equal(fc_failed(&fc, FC_PUT), 3); /* MAX_ATTEMPTS, jobs.c */
    assert_int_equal(store_job_get(st, job_id, &j, &err), 0);
    assert_string_equal(json_string_value(json_object_get(j, "state")),
                        "failed");
    assert_non_null(json_object_get(j, "error"));
    json_decref(j);
    assert_int_equal(store_file_list(st, "org/m", NULL, &j, &err), 0);
    json_t *f = json_array_get(j, 0);
    assert_string_equal(json_string_value(json_object_get(f, "state")),
                        "failed");
    const char *why = json_string_value(json_object_get(f, "error"));
    assert_non_null(strstr(why, "No space left on device"));
    assert_non_null(strstr(why, "after 3 attempts"));
    json_decref(j);
    size_t len;
    uint8_t *back = tu_download(st, "org/m", "t.txt", 7, &len, &err);
    assert_non_null(back);
    assert_int_equal(len, strlen(text));
    assert_memory_equal(back, text, len);
    free(back);
    store_close(st);
    fc_destroy(&fc);
    tu_rm_rf(dir);
    free(dir);
}

static int64_t gc_packs_dropped(es_store *st)
{
    json_t *rep = NULL;
    es_err err;
    assert_int_equal(store_gc(st, &rep, &err), 0);
    int64_t n = tu_json_int(rep, "packs_dropped");
    json_decref(rep);
    return n;
}

static void age_packs(const char *dir)
{
    char packs[4200];
    snprintf(packs, sizeof packs, "%s/packs", dir);
    DIR *d = opendir(packs);
    assert_non_null(d);
    struct dirent *e;
    time_t old = time(NULL) - 7200;
    struct utimbuf ut = {old, old};
    while ((e = readdir(d)) != NULL) {
        char path[4500];
        snprintf(path, sizeof path, "%s/%s", packs, e->d_name);
        if (e->d_name[0] != '.')
            assert_int_equal(utime(path, &ut), 0);
    }
    closedir(d);
}

/* With a grace time (replicas), GC leaves a container sealed less than
 * that long ago even when no row names a chunk in it: another replica may
 * have sealed it and not yet committed its rows.  Once older, it goes. */
static void test_grace_keeps_young_containers(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("grace");
    store_config cfg = {.data_dir = dir,
                        .workers = 1,
                        .gc_grace_s = 3600,
                        .chunk_store = chunk_store,
                        .s3_access_key = getenv("ELVES_S3_ACCESS_KEY"),
                        .s3_secret_key = getenv("ELVES_S3_SECRET_KEY")};
    es_store *st = tu_open_config(&cfg);
    tu_make_repo(st, "org/g", NULL);
    uint8_t data[4096];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(tu_rnd() >> 7);
    tu_upload(st, "org/g", "x.bin", data, sizeof data);
    store_wait_idle(st);
    store_close(st); /* seals the local open pack */
    st = tu_open_config(&cfg);
    es_err err;
    assert_int_equal(store_file_delete(st, "org/g", NULL, "x.bin", &err), 0);
    store_wait_idle(st);
    tdb *db = tdb_open(dir);
    tdb_exec(db, "UPDATE chunks SET dead_since = 0 WHERE refcount = 0");
    tdb_exec(db, "UPDATE tensors SET dead_since = 0 WHERE refcount = 0");
    assert_int_equal(gc_packs_dropped(st), 0); /* rows freed, packs young */
    assert_int_equal(tdb_q1(db, "SELECT count(*) FROM chunks"), 0);
    tdb_close(db);
    if (!chunk_store) { /* S3 objects cannot be aged from here */
        age_packs(dir);
        assert_true(gc_packs_dropped(st) >= 1);
    }
    store_close(st);
    tu_rm_rf(dir);
    free(dir);
}

static int object_exists(s3_client *c, const char *key)
{
    es_err err;
    uint8_t b;
    if (s3_get_range(c, key, 0, 1, &b, &err) == 0)
        return 1;
    assert_int_equal(err.status, 404);
    return 0;
}

static int count_object(void *ctx, const s3_object *o)
{
    (void)o;
    ++*(int *)ctx;
    return 0;
}

/* A replica that dies between copying an upload into the bucket and
 * recording it leaves a spool object no row names.  GC removes such an
 * object once it is older than the grace time; it keeps a young one (an
 * upload on its way to its record) and one a file version names. */
static void test_orphan_spool_objects(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("orphan"), url[2048];
    s3_config sc;
    s3_env_config(&sc, NULL); /* a prefix of this test's own */
    s3_store_url(&sc, url, sizeof url);
    fc_state fc;
    fc_init(&fc);
    store_config cfg = faulty_config(dir, url, &fc);
    cfg.gc_grace_s = 2;
    es_store *st = tu_open_config(&cfg);
    es_err err;
    s3_client *cli;
    assert_int_equal(s3_client_new(&cli, &sc, &err), 0);
    char old_key[600], young_key[600];
    snprintf(old_key, sizeof old_key, "%s/spool/orphan-old", sc.prefix);
    snprintf(young_key, sizeof young_key, "%s/spool/orphan-young", sc.prefix);
    assert_int_equal(s3_put_object(cli, old_key, "lost", 4, &err), 0);

    /* a file version whose job fails keeps its spool object, named */
    tu_make_repo(st, "org/o", NULL);
    fc_fail(&fc, FC_PUT, 1, FC_LASTING, 500, "pack write: injected");
    const char *text = "bytes kept in the spool\n";
    json_t *j = tu_upload_bytes(st, "org/o", "kept.txt", text, strlen(text),
                                &err);
    assert_non_null(j);
    json_decref(j);
    store_wait_idle(st);

    sleep(3); /* past the grace time */
    assert_int_equal(s3_put_object(cli, young_key, "new", 3, &err), 0);
    json_t *rep = NULL;
    assert_int_equal(store_gc(st, &rep, &err), 0);
    assert_int_equal(tu_json_int(rep, "spool_objects_removed"), 1);
    json_decref(rep);
    assert_false(object_exists(cli, old_key));
    assert_true(object_exists(cli, young_key));
    char spool_prefix[600];
    snprintf(spool_prefix, sizeof spool_prefix, "%s/spool/", sc.prefix);
    int n = 0;
    assert_int_equal(s3_list(cli, spool_prefix, count_object, &n, &err), 0);
    assert_int_equal(n, 2); /* the young orphan and the failed file's */

    s3_delete_object(cli, young_key, &err);
    s3_client_free(cli);
    s3_config_free(&sc);
    store_close(st);
    fc_destroy(&fc);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_iterate_drop),
        cmocka_unit_test(test_bit_flip_detected),
        cmocka_unit_test(test_failed_job_served_from_spool),
        cmocka_unit_test(test_grace_keeps_young_containers),
    };
    const struct CMUnitTest on_s3[] = {
        cmocka_unit_test(test_failed_job_served_from_spool),
        cmocka_unit_test(test_grace_keeps_young_containers),
        cmocka_unit_test(test_orphan_spool_objects),
    };
    int rc = cmocka_run_group_tests_name("fs", tests, NULL, NULL);
    chunk_store = getenv("ELVES_TEST_S3");
    if (chunk_store && *chunk_store)
        rc |= cmocka_run_group_tests_name("s3", on_s3, NULL, NULL);
    return rc;
}
