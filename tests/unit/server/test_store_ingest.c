/*
 * test_store_ingest.c - the compression pipeline end to end through the
 * store API: every real checkpoint of ELVES_SHARED_DATA round-trips
 * bit-exact, ELF mode stays within its bound, whole-file and tensor dedup
 * store shared bytes once, reference counts stay exact through upload /
 * delete / re-upload sequences, GC returns everything, compaction moves
 * live chunks, a corrupt chunk is an error, a job left running is redone
 * after reopen, and 16 threads upload at once.
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store_test_util.h"

/* ---- helpers
 * ----------------------------------------------------------------- */

static void check_empty(es_store *st, const char *dir)
{
    tu_gc(st);
    assert_int_equal(tu_stat(st, "stored_bytes"), 0);
    assert_int_equal(tu_stat(st, "logical_bytes"), 0);
    tdb *db = tdb_open(dir);
    assert_int_equal(tdb_q1(db, "SELECT count(*) FROM chunks"), 0);
    assert_int_equal(tdb_q1(db, "SELECT count(*) FROM tensors"), 0);
    assert_int_equal(
        tdb_q1(db, "SELECT count(*) FROM packs WHERE live_bytes > 0"), 0);
    tdb_close(db);
}

/* ---- tests
 * ---------------------------------------------------------------------- */

static const char *shared_files[] = {
    "faceapi-age-gender.safetensors",
    "faceapi-face-expression.safetensors",
    "faceapi-face-landmark-68-tiny.safetensors",
    "faceapi-face-landmark-68.safetensors",
    "faceapi-tiny-face-detector.safetensors",
    "human-antispoof.safetensors",
    "human-blazeface.safetensors",
    "human-emotion.safetensors",
    "human-facemesh.safetensors",
    "human-handlandmark-lite.safetensors",
    "human-liveness.safetensors",
    "human-movenet-lightning.safetensors",
    "ppocr-mobile-v2-cls.safetensors",
};
#define NSHARED (sizeof shared_files / sizeof shared_files[0])

static void test_shared_data_roundtrip(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("shared");
    es_store *st = tu_open(dir, 2);
    tu_make_repo(st, "org/shared", NULL);
    uint8_t *data[NSHARED];
    size_t len[NSHARED];
    uint64_t total = 0;
    for (size_t i = 0; i < NSHARED; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", ELVES_SHARED_DATA,
                 shared_files[i]);
        data[i] = test_read_file(path, &len[i]);
        assert_non_null(data[i]);
        total += len[i];
        tu_upload(st, "org/shared", shared_files[i], data[i], len[i]);
    }
    store_wait_idle(st);
    for (size_t i = 0; i < NSHARED; i++) {
        tu_expect_state(st, "org/shared", shared_files[i], "stored");
        tu_expect_content(st, "org/shared", shared_files[i], data[i], len[i]);
    }
    /* random ranges of the largest file against the original */
    store_file f;
    es_err err;
    size_t big = NSHARED - 2; /* movenet, 4.7 MB */
    assert_int_equal(
        store_file_lookup(st, "org/shared", NULL, shared_files[big], &f, &err),
        0);
    store_reader *r;
    assert_int_equal(store_reader_open(st, &f, &r, &err), 0);
    uint8_t *buf = malloc(3 << 20);
    tu_rng_state = 99;
    for (int i = 0; i < 300; i++) {
        uint64_t off = tu_rnd() % len[big];
        size_t want = 1 + tu_rnd() % (i % 10 == 0 ? (3u << 20) : 5000u);
        size_t got = 0;
        assert_int_equal(store_reader_read(r, off, buf, want, &got, &err), 0);
        size_t exp = len[big] - off < want ? len[big] - off : want;
        assert_int_equal(got, exp);
        assert_memory_equal(buf, data[big] + off, got);
    }
    free(buf);
    store_reader_close(r);
    int64_t stored = tu_stat(st, "stored_bytes");
    assert_int_equal(tu_stat(st, "logical_bytes"), (int64_t)total);
    assert_true(stored > 0 && stored < (int64_t)total);
    json_t *all = NULL;
    es_err serr;
    assert_int_equal(store_stats(st, NULL, &all, &serr), 0);
    /* ratio reads as "N.NNx": logical over stored */
    assert_true(fabs(json_real_value(json_object_get(all, "ratio")) -
                     (double)total / (double)stored) < 1e-9);
    json_decref(all);
    printf("shared/data: logical %llu, stored %lld, stored/logical %.4f\n",
           (unsigned long long)total, (long long)stored,
           (double)stored / (double)total);
    tu_check_refcounts(dir);
    for (size_t i = 0; i < NSHARED; i++)
        free(data[i]);
    store_close(st);
    tu_rm_rf(dir);
    free(dir);
}

static void test_elf_mode(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("elf");
    es_store *st = tu_open(dir, 1);
    tu_make_repo(st, "org/elf", "elf");
    tu_tensor t[] = {{"w", 600000, 5}, {"b", 1000, 6}};
    size_t len;
    uint8_t *data = tu_make_safetensors(t, 2, &len);
    tu_upload(st, "org/elf", "m.safetensors", data, len);
    store_wait_idle(st);
    tu_expect_state(st, "org/elf", "m.safetensors", "stored");
    store_file f;
    es_err err;
    assert_int_equal(
        store_file_lookup(st, "org/elf", NULL, "m.safetensors", &f, &err), 0);
    assert_int_equal(f.size, len);
    size_t got;
    uint8_t *back =
        tu_download(st, "org/elf", "m.safetensors", 1 << 20, &got, &err);
    assert_non_null(back);
    assert_int_equal(got, len);
    char hex[65];
    tu_sha_hex(hex, back, got);
    assert_string_equal(hex, f.sha256); /* what is served is what is named */
    uint64_t hl;
    memcpy(&hl, data, 8);
    assert_memory_equal(back, data, 8 + hl); /* header bit-exact */
    for (size_t i = 8 + hl; i + 4 <= len; i += 4) {
        float a, b;
        memcpy(&a, back + i, 4);
        memcpy(&b, data + i, 4);
        assert_true(fabs((double)a - (double)b) <= ldexp(1.0, -24));
    }
    /* the same bytes in a lossless repo must not reuse lossy blocks */
    tu_make_repo(st, "org/exact", NULL);
    tu_upload(st, "org/exact", "m.safetensors", data, len);
    store_wait_idle(st);
    tu_expect_content(st, "org/exact", "m.safetensors", data, len);
    tu_check_refcounts(dir);
    free(back);
    free(data);
    store_close(st);
    tu_rm_rf(dir);
    free(dir);
}

/* Replacing a stored file frees its chunks by itself: the upload that
 * releases a file version asks for GC, so an explicit GC afterwards finds
 * nothing left to free. */
static void test_replace_frees_chunks(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("replace");
    es_store *st = tu_open(dir, 2);
    tu_make_repo(st, "org/r", NULL);
    tu_tensor a[] = {{"w", 200000, 11}}, b[] = {{"w", 200000, 12}};
    size_t alen, blen;
    uint8_t *adata = tu_make_safetensors(a, 1, &alen);
    uint8_t *bdata = tu_make_safetensors(b, 1, &blen);
    tu_upload(st, "org/r", "m.safetensors", adata, alen);
    store_wait_idle(st);
    tu_expect_state(st, "org/r", "m.safetensors", "stored");
    tu_upload(st, "org/r", "m.safetensors", bdata, blen);
    store_wait_idle(st);
    tu_expect_state(st, "org/r", "m.safetensors", "stored");
    json_t *rep = NULL;
    es_err err;
    assert_int_equal(store_gc(st, &rep, &err), 0);
    assert_int_equal(tu_json_int(rep, "chunks_freed"), 0);
    json_decref(rep);
    tdb *db = tdb_open(dir);
    assert_int_equal(
        tdb_q1(db, "SELECT count(*) FROM chunks WHERE refcount = 0"), 0);
    tdb_close(db);
    tu_expect_content(st, "org/r", "m.safetensors", bdata, blen);
    tu_check_refcounts(dir);
    free(adata);
    free(bdata);
    store_close(st);
    tu_rm_rf(dir);
    free(dir);
}

static void test_same_file_two_repos(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("dupfile");
    es_store *st = tu_open(dir, 2);
    tu_make_repo(st, "org/a", NULL);
    tu_make_repo(st, "org/b", NULL);
    tu_tensor t[] = {{"w", 300000, 1}, {"v", 50000, 2}};
    size_t len;
    uint8_t *data = tu_make_safetensors(t, 2, &len);
    tu_upload(st, "org/a", "m.safetensors", data, len);
    store_wait_idle(st);
    int64_t once = tu_stat(st, "stored_bytes");
    assert_true(once > 0);
    tu_upload(st, "org/b", "copy.safetensors", data, len);
    store_wait_idle(st);
    tu_expect_state(st, "org/b", "copy.safetensors", "stored");
    assert_int_equal(tu_stat(st, "stored_bytes"), once);
    assert_int_equal(tu_stat(st, "logical_bytes"), 2 * (int64_t)len);
    assert_int_equal(tu_stat(st, "dedup_saved_bytes"), once);
    tu_expect_content(st, "org/b", "copy.safetensors", data, len);
    tu_check_refcounts(dir);
    es_err err;
    /* delete one, the other still reads; then the other: all gone */
    assert_int_equal(store_repo_delete(st, "org/a", &err), 0);
    tu_gc(st);
    assert_int_equal(tu_stat(st, "stored_bytes"), once);
    tu_expect_content(st, "org/b", "copy.safetensors", data, len);
    tu_check_refcounts(dir);
    assert_int_equal(
        store_file_delete(st, "org/b", NULL, "copy.safetensors", &err), 0);
    store_wait_idle(st);
    check_empty(st, dir);
    tu_check_refcounts(dir);
    free(data);
    store_close(st);
    tu_rm_rf(dir);
    free(dir);
}

/* Deletes `first`, checks that `second` (data, len) still downloads with
 * exact reference counts, then deletes it and checks the store is empty. */
static void delete_both(es_store *st, const char *dir, const char *first,
                        const char *second, const uint8_t *data, size_t len)
{
    es_err err;
    assert_int_equal(store_file_delete(st, "org/m", NULL, first, &err), 0);
    tu_gc(st);
    tu_check_refcounts(dir);
    tu_expect_content(st, "org/m", second, data, len);
    assert_int_equal(store_file_delete(st, "org/m", NULL, second, &err), 0);
    check_empty(st, dir);
}

static void test_shared_tensors(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("dupten");
    es_store *st = tu_open(dir, 2);
    tu_make_repo(st, "org/m", NULL);
    /* x = {a, b}, y = {c, a}: "a" (4 MB) is the same tensor in both */
    tu_tensor tx[] = {{"a", 1000000, 10}, {"b", 100000, 11}};
    tu_tensor ty[] = {{"c", 100000, 12}, {"a", 1000000, 10}};
    size_t lx, ly;
    uint8_t *x = tu_make_safetensors(tx, 2, &lx);
    uint8_t *y = tu_make_safetensors(ty, 2, &ly);
    tu_upload(st, "org/m", "x.safetensors", x, lx);
    store_wait_idle(st);
    int64_t sx = tu_stat(st, "stored_bytes");
    tu_upload(st, "org/m", "y.safetensors", y, ly);
    store_wait_idle(st);
    int64_t sxy = tu_stat(st, "stored_bytes");
    tu_expect_content(st, "org/m", "x.safetensors", x, lx);
    tu_expect_content(st, "org/m", "y.safetensors", y, ly);
    /* y added only "c" and its header: far less than "a" */
    assert_true(sxy - sx < sx / 4);
    tdb *db = tdb_open(dir);
    assert_int_equal(tdb_q1(db, "SELECT max(refcount) FROM tensors"), 2);
    tdb_close(db);
    tu_check_refcounts(dir);
    /* delete in the order x then y */
    delete_both(st, dir, "x.safetensors", "y.safetensors", y, ly);
    /* again, deleting y first */
    tu_upload(st, "org/m", "x.safetensors", x, lx);
    tu_upload(st, "org/m", "y.safetensors", y, ly);
    store_wait_idle(st);
    delete_both(st, dir, "y.safetensors", "x.safetensors", x, lx);
    free(x);
    free(y);
    store_close(st);
    tu_rm_rf(dir);
    free(dir);
}

/* Small tensors are coded in units (elves_plan_units): a unit is one
 * tensors row named by each of its members, found again by its
 * fingerprint when another file holds the same run of tensors. */
static void test_shared_units(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("units");
    es_store *st = tu_open(dir, 2);
    tu_make_repo(st, "org/m", NULL);
    enum { NS = 10 };
    char names[NS][8];
    tu_tensor tx[NS + 1], ty[NS + 1];
    tx[0] = (tu_tensor){"big", 50000, 40};
    ty[0] = (tu_tensor){"other", 60000, 41};
    for (int i = 0; i < NS; i++) {
        snprintf(names[i], sizeof names[i], "s%d", i);
        tx[i + 1] = ty[i + 1] = (tu_tensor){names[i], 256, 20 + (uint32_t)i};
    }
    size_t lx, ly;
    uint8_t *x = tu_make_safetensors(tx, NS + 1, &lx);
    uint8_t *y = tu_make_safetensors(ty, NS + 1, &ly);
    tu_upload(st, "org/m", "x.safetensors", x, lx);
    store_wait_idle(st);
    tdb *db = tdb_open(dir);
    /* header, big, and one chunk for the ten small tensors */
    assert_int_equal(tdb_q1(db, "SELECT count(*) FROM chunks"), 3);
    assert_int_equal(tdb_q1(db, "SELECT count(*) FROM file_segments"), NS + 2);
    assert_int_equal(tdb_q1(db, "SELECT max(refcount) FROM tensors"), NS);
    tu_upload(st, "org/m", "y.safetensors", y, ly);
    store_wait_idle(st);
    /* y wrote its header and "other" only */
    assert_int_equal(tdb_q1(db, "SELECT count(*) FROM chunks"), 5);
    assert_int_equal(tdb_q1(db, "SELECT max(refcount) FROM tensors"), 2 * NS);
    tdb_close(db);
    tu_expect_content(st, "org/m", "x.safetensors", x, lx);
    tu_expect_content(st, "org/m", "y.safetensors", y, ly);
    tu_check_refcounts(dir);
    delete_both(st, dir, "x.safetensors", "y.safetensors", y, ly);
    free(x);
    free(y);
    store_close(st);
    tu_rm_rf(dir);
    free(dir);
}

/* Upload / delete / re-upload sequences; refcounts exact after each step. */
static void test_refcount_sequences(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("seq");
    es_store *st = tu_open(dir, 2);
    tu_make_repo(st, "org/p", NULL);
    tu_make_repo(st, "org/q", NULL);
    tu_tensor tx[] = {{"a", 200000, 1}, {"b", 30000, 2}};
    tu_tensor ty[] = {{"a", 200000, 1}, {"c", 30000, 3}};
    size_t lx, ly;
    uint8_t *x = tu_make_safetensors(tx, 2, &lx);
    uint8_t *y = tu_make_safetensors(ty, 2, &ly);
    es_err err;
    const char *script[] = {
        "up p x",  "up q x",  "up p y",    "del p x",   "up q y",
        "del q x", "up p x",  "delrepo q", "up q y",    "up q x",
        "del p y", "del p x", "up p y",    "delrepo p", "delrepo q",
    };
    for (size_t i = 0; i < sizeof script / sizeof *script; i++) {
        char op[16], repo_short[8], file[8] = "";
        sscanf(script[i], "%15s %7s %7s", op, repo_short, file);
        char repo[16];
        snprintf(repo, sizeof repo, "org/%s", repo_short);
        const uint8_t *d = file[0] == 'x' ? x : y;
        size_t l = file[0] == 'x' ? lx : ly;
        char path[32];
        snprintf(path, sizeof path, "%s.safetensors", file);
        if (!strcmp(op, "up")) {
            json_t *got = NULL;
            if (store_repo_get(st, repo, &got, &err) != 0)
                tu_make_repo(st, repo, NULL);
            json_decref(got);
            tu_upload(st, repo, path, d, l);
        } else if (!strcmp(op, "del")) {
            assert_int_equal(store_file_delete(st, repo, NULL, path, &err), 0);
        } else {
            assert_int_equal(store_repo_delete(st, repo, &err), 0);
        }
        if (i % 2 == 0)
            store_wait_idle(st); /* odd steps race the workers */
        tu_check_refcounts(dir);
    }
    store_wait_idle(st);
    check_empty(st, dir);
    tu_check_refcounts(dir);
    free(x);
    free(y);
    store_close(st);
    tu_rm_rf(dir);
    free(dir);
}

static void test_compaction(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("compact");
    es_store *st = tu_open(dir, 1);
    tu_make_repo(st, "org/m", NULL);
    tu_tensor ta[] = {{"big", 2000000, 21}};
    tu_tensor tb[] = {{"small", 100000, 22}};
    size_t la, lb;
    uint8_t *a = tu_make_safetensors(ta, 1, &la);
    uint8_t *b = tu_make_safetensors(tb, 1, &lb);
    tu_upload(st, "org/m", "a.safetensors", a, la);
    tu_upload(st, "org/m", "b.safetensors", b, lb);
    store_wait_idle(st);
    store_close(st);
    st = tu_open(dir, 1); /* a new run appends to a new pack */
    es_err err;
    assert_int_equal(
        store_file_delete(st, "org/m", NULL, "a.safetensors", &err), 0);
    store_wait_idle(st); /* the delete asked the workers for a GC */
    tu_gc(st);
    /* the first pack held mostly "a": its live chunks moved, it is gone */
    char first[4300];
    snprintf(first, sizeof first, "%s/packs/pack-%012d.pack", dir, 1);
    assert_int_equal(access(first, F_OK), -1);
    tu_expect_content(st, "org/m", "b.safetensors", b, lb);
    int64_t packs = tu_stat(st, "pack_bytes");
    assert_true(packs < (int64_t)la / 2);
    tu_check_refcounts(dir);
    store_close(st);
    st = tu_open(dir, 1);
    tu_expect_content(st, "org/m", "b.safetensors", b, lb);
    free(a);
    free(b);
    store_close(st);
    tu_rm_rf(dir);
    free(dir);
}

static void test_corrupt_chunk(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("corrupt");
    es_store *st = tu_open(dir, 1);
    tu_make_repo(st, "org/m", NULL);
    tu_tensor t[] = {{"w", 400000, 31}};
    size_t len;
    uint8_t *data = tu_make_safetensors(t, 1, &len);
    tu_upload(st, "org/m", "m.safetensors", data, len);
    store_wait_idle(st);
    tu_expect_state(st, "org/m", "m.safetensors", "stored");
    store_close(st);
    /* flip one byte inside the last chunk's data */
    tdb *db = tdb_open(dir);
    int64_t pack =
        tdb_q1(db, "SELECT pack FROM chunks ORDER BY id DESC LIMIT 1");
    int64_t off = tdb_q1(db, "SELECT \"offset\" + 16 + length / 2 FROM chunks ORDER "
                            "BY id DESC LIMIT 1");
    tdb_close(db);
    char path[4300];
    snprintf(path, sizeof path, "%s/packs/pack-%012lld.pack", dir,
             (long long)pack);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t byte;
    assert_int_equal(pread(fd, &byte, 1, off), 1);
    byte ^= 0x40;
    assert_int_equal(pwrite(fd, &byte, 1, off), 1);
    close(fd);

    st = tu_open(dir, 1);
    store_file f;
    es_err err;
    assert_int_equal(
        store_file_lookup(st, "org/m", NULL, "m.safetensors", &f, &err), 0);
    store_reader *r;
    assert_int_equal(store_reader_open(st, &f, &r, &err), 0);
    uint8_t *buf = malloc(len);
    size_t got = 0, done = 0;
    int rc = 0;
    while (done < len &&
           (rc = store_reader_read(r, done, buf + done, len - done, &got,
                                   &err)) == 0 &&
           got > 0)
        done += got;
    assert_int_equal(rc, -1);
    assert_int_equal(err.status, 500);
    assert_non_null(strstr(err.msg, "corrupt"));
    /* what was returned before the error was right */
    assert_memory_equal(buf, data, done);
    store_reader_close(r);
    free(buf);
    free(data);
    store_close(st);
    tu_rm_rf(dir);
    free(dir);
}

/* A job a crash left 'running' is redone at the next open. */
static void test_requeue_running(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("requeue");
    es_store *st = tu_open(dir, 1);
    tu_make_repo(st, "org/m", NULL);
    store_close(st);
    tu_tensor t[] = {{"w", 300000, 41}};
    size_t len;
    uint8_t *data = tu_make_safetensors(t, 1, &len);
    char hex[65];
    tu_sha_hex(hex, data, len);
    /* what a crash mid-compression leaves: spool file, rows, job running */
    char path[4300];
    snprintf(path, sizeof path, "%s/spool/crashed.spool", dir);
    FILE *fp = fopen(path, "wb");
    assert_int_equal(fwrite(data, 1, len, fp), len);
    fclose(fp);
    tdb *db = tdb_open(dir);
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO files (id, size, sha256, upload_size, "
             "upload_sha256, mode, state, spool, created) VALUES (77, %zu, "
             "'%s', %zu, '%s', 'lossless', 'compressing', 'crashed.spool', "
             "1);"
             "INSERT INTO jobs (id, file_id, repo, path, state, attempts, "
             "total_bytes, created) VALUES (5, 77, 'org/m', 'm', 'running', "
             "1, %zu, 1);"
             "INSERT INTO tree_entries SELECT commit_id, 'm', 77 FROM refs;",
             len, hex, len, hex, len);
    tdb_exec(db, sql);
    tdb_close(db);

    st = tu_open(dir, 1);
    store_wait_idle(st);
    json_t *job = NULL;
    es_err err;
    assert_int_equal(store_job_get(st, 5, &job, &err), 0);
    assert_string_equal(json_string_value(json_object_get(job, "state")),
                        "done");
    json_decref(job);
    tu_expect_state(st, "org/m", "m", "stored");
    tu_expect_content(st, "org/m", "m", data, len);
    assert_int_equal(access(path, F_OK), -1); /* spool removed */
    free(data);
    store_close(st);
    tu_rm_rf(dir);
    free(dir);
}

/* GC deletes the rows of jobs that ended over JOB_KEEP_S ago, and only
 * those: recent jobs stay, files keep their state and content. */
static void test_prune_old_jobs(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("prune");
    es_store *st = tu_open(dir, 1);
    tu_make_repo(st, "org/m", NULL);
    tu_tensor t[] = {{"w", 1000, 7}};
    size_t len;
    uint8_t *data = tu_make_safetensors(t, 1, &len);
    tu_upload(st, "org/m", "old", data, len);
    tu_upload(st, "org/m", "new", data, len);
    store_wait_idle(st);
    store_close(st);

    tdb *db = tdb_open(dir);
    assert_int_equal(
        tdb_q1(db, "SELECT count(*) FROM jobs WHERE state = 'done'"), 2);
    tdb_exec(db, "UPDATE jobs SET finished = 1 WHERE path = 'old';");
    int64_t old_id = tdb_q1(db, "SELECT id FROM jobs WHERE path = 'old'");
    int64_t new_id = tdb_q1(db, "SELECT id FROM jobs WHERE path = 'new'");
    tdb_close(db);

    st = tu_open(dir, 1); /* opening runs GC */
    json_t *out = NULL;
    es_err err;
    assert_int_equal(store_job_get(st, old_id, &out, &err), -1);
    assert_int_equal(err.status, 404);
    assert_int_equal(store_job_get(st, new_id, &out, &err), 0);
    json_decref(out);
    tu_expect_state(st, "org/m", "old", "stored");
    tu_expect_content(st, "org/m", "old", data, len);
    assert_int_equal(store_gc(st, &out, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "jobs_pruned")),
                     0);
    json_decref(out);
    store_close(st);
    free(data);
    tu_rm_rf(dir);
    free(dir);
}

/* Unacknowledged spool files and unreferenced chunks go at open. */
static void test_startup_cleanup(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("cleanup");
    es_store *st = tu_open(dir, 1);
    store_close(st);
    char path[4300];
    snprintf(path, sizeof path, "%s/spool/tmp-deadbeef", dir);
    FILE *fp = fopen(path, "wb");
    fputs("half an upload", fp);
    fclose(fp);
    char orphan[4300];
    snprintf(orphan, sizeof orphan, "%s/spool/0123.spool", dir);
    fp = fopen(orphan, "wb");
    fputs("renamed, never committed", fp);
    fclose(fp);
    st = tu_open(dir, 1);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(access(orphan, F_OK), -1);
    store_close(st);
    tu_rm_rf(dir);
    free(dir);
}

typedef struct up_arg {
    es_store *st;
    int i;
    uint8_t *data;
    size_t len;
    int ok;
} up_arg;

static void *uploader(void *p)
{
    up_arg *a = p;
    char repo[32], path[64];
    snprintf(repo, sizeof repo, "org/r%d", a->i % 4);
    snprintf(path, sizeof path, "dir%d/f%d.safetensors", a->i % 3, a->i);
    es_err err;
    json_t *j = tu_upload_bytes(a->st, repo, path, a->data, a->len, &err);
    a->ok = j != NULL;
    if (!j)
        fprintf(stderr, "upload %d: %s\n", a->i, err.msg);
    json_decref(j);
    return NULL;
}

static void test_concurrent_uploads(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("concurrent");
    es_store *st = tu_open(dir, 3);
    for (int r = 0; r < 4; r++) {
        char name[32];
        snprintf(name, sizeof name, "org/r%d", r);
        tu_make_repo(st, name, NULL);
    }
    enum { N = 16 };
    pthread_t th[N];
    up_arg args[N];
    for (int i = 0; i < N; i++) {
        /* pairs of uploads share content: dedup under concurrency */
        tu_tensor t[] = {{"shared", 50000, 1},
                         {"own", 20000 + i / 2, (uint32_t)(100 + i / 2)}};
        args[i] = (up_arg){st, i, NULL, 0, 0};
        args[i].data = tu_make_safetensors(t, 2, &args[i].len);
        pthread_create(&th[i], NULL, uploader, &args[i]);
    }
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++)
        assert_true(args[i].ok);
    store_wait_idle(st);
    for (int i = 0; i < N; i++) {
        char repo[32], path[64];
        snprintf(repo, sizeof repo, "org/r%d", i % 4);
        snprintf(path, sizeof path, "dir%d/f%d.safetensors", i % 3, i);
        tu_expect_state(st, repo, path, "stored");
        tu_expect_content(st, repo, path, args[i].data, args[i].len);
        free(args[i].data);
    }
    tu_check_refcounts(dir);
    es_err err;
    for (int r = 0; r < 4; r++) {
        char name[32];
        snprintf(name, sizeof name, "org/r%d", r);
        assert_int_equal(store_repo_delete(st, name, &err), 0);
    }
    store_wait_idle(st);
    check_empty(st, dir);
    store_close(st);
    tu_rm_rf(dir);
    free(dir);
}

static void test_opaque_and_empty(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("opaque");
    es_store *st = tu_open(dir, 1);
    tu_make_repo(st, "org/m", NULL);
    const char *cfg = "{\"hidden_size\": 768, \"layers\": 12}\n";
    tu_upload(st, "org/m", "config.json", (const uint8_t *)cfg, strlen(cfg));
    tu_upload(st, "org/m", "empty.bin", (const uint8_t *)"", 0);
    /* a truncated safetensors: stored as opaque bytes, bit-exact */
    tu_tensor t[] = {{"w", 10000, 3}};
    size_t len;
    uint8_t *data = tu_make_safetensors(t, 1, &len);
    tu_upload(st, "org/m", "bad.safetensors", data, len - 100);
    store_wait_idle(st);
    tu_expect_state(st, "org/m", "config.json", "stored");
    tu_expect_state(st, "org/m", "empty.bin", "stored");
    tu_expect_state(st, "org/m", "bad.safetensors", "stored");
    tu_expect_content(st, "org/m", "config.json", (const uint8_t *)cfg,
                      strlen(cfg));
    tu_expect_content(st, "org/m", "empty.bin", (const uint8_t *)"", 0);
    tu_expect_content(st, "org/m", "bad.safetensors", data, len - 100);
    json_t *list = NULL;
    es_err err;
    assert_int_equal(store_file_list(st, "org/m", NULL, &list, &err), 0);
    json_t *f = json_array_get(list, 0); /* bad.safetensors */
    assert_non_null(json_object_get(json_object_get(f, "codecs"), "zstd"));
    json_decref(list);
    free(data);
    store_close(st);
    tu_rm_rf(dir);
    free(dir);
}

/* A reader opened before compaction moved its chunks keeps working. */
static void test_read_across_compaction(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("movedread");
    es_store *st = tu_open(dir, 1);
    tu_make_repo(st, "org/m", NULL);
    tu_tensor ta[] = {{"big", 1500000, 51}};
    tu_tensor tb[] = {{"small", 300000, 52}};
    size_t la, lb;
    uint8_t *a = tu_make_safetensors(ta, 1, &la);
    uint8_t *b = tu_make_safetensors(tb, 1, &lb);
    tu_upload(st, "org/m", "a.safetensors", a, la);
    tu_upload(st, "org/m", "b.safetensors", b, lb);
    store_wait_idle(st);
    store_close(st);
    st = tu_open(dir, 1);
    store_file f;
    es_err err;
    assert_int_equal(
        store_file_lookup(st, "org/m", NULL, "b.safetensors", &f, &err), 0);
    store_reader *r;
    assert_int_equal(store_reader_open(st, &f, &r, &err), 0);
    assert_int_equal(
        store_file_delete(st, "org/m", NULL, "a.safetensors", &err), 0);
    store_wait_idle(st);
    tu_gc(st);
    char first[4300];
    snprintf(first, sizeof first, "%s/packs/pack-%012d.pack", dir, 1);
    assert_int_equal(access(first, F_OK), -1); /* b's chunks moved */
    uint8_t *buf = malloc(lb);
    size_t done = 0, got = 0;
    while (done < lb) {
        assert_int_equal(
            store_reader_read(r, done, buf + done, lb - done, &got, &err), 0);
        assert_true(got > 0);
        done += got;
    }
    assert_memory_equal(buf, b, lb);
    store_reader_close(r);
    free(buf);
    free(a);
    free(b);
    store_close(st);
    tu_rm_rf(dir);
    free(dir);
}

typedef struct rd_arg {
    es_store *st;
    const uint8_t *data[3];
    size_t len[3];
    int seed;
    int errors;
} rd_arg;

static void *range_reader(void *p)
{
    rd_arg *a = p;
    uint32_t x = (uint32_t)a->seed * 2654435761u + 7;
    uint8_t *buf = malloc(1 << 20);
    for (int i = 0; i < 60; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        int k = (int)(x % 3);
        char path[32];
        snprintf(path, sizeof path, "f%d.safetensors", k);
        store_file f;
        store_reader *r;
        es_err err;
        if (store_file_lookup(a->st, "org/m", NULL, path, &f, &err) != 0 ||
            store_reader_open(a->st, &f, &r, &err) != 0) {
            a->errors++;
            continue;
        }
        uint64_t off = x % a->len[k];
        size_t want = 1 + (x >> 7) % (1 << 20), got = 0;
        if (store_reader_read(r, off, buf, want, &got, &err) != 0 ||
            got != (a->len[k] - off < want ? a->len[k] - off : want) ||
            memcmp(buf, a->data[k] + off, got) != 0)
            a->errors++;
        store_reader_close(r);
    }
    free(buf);
    return NULL;
}

/* 16 threads read ranges while the files go from spool to chunks. */
static void test_concurrent_reads(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("reads");
    es_store *st = tu_open(dir, 2);
    tu_make_repo(st, "org/m", NULL);
    rd_arg base = {st, {0}, {0}, 0, 0};
    uint8_t *data[3];
    for (int k = 0; k < 3; k++) {
        tu_tensor t[] = {{"w", 700000 + 1000 * (size_t)k, 60 + (uint32_t)k},
                         {"v", 1234, 70}};
        data[k] = tu_make_safetensors(t, 2, &base.len[k]);
        base.data[k] = data[k];
        char path[32];
        snprintf(path, sizeof path, "f%d.safetensors", k);
        tu_upload(st, "org/m", path, data[k], base.len[k]);
    }
    enum { N = 16 };
    pthread_t th[N];
    rd_arg args[N];
    for (int i = 0; i < N; i++) {
        args[i] = base;
        args[i].seed = i + 1;
        pthread_create(&th[i], NULL, range_reader, &args[i]);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].errors, 0);
    }
    store_wait_idle(st);
    for (int i = 0; i < N; i++) {
        args[i].seed = 100 + i;
        pthread_create(&th[i], NULL, range_reader, &args[i]);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].errors, 0);
    }
    for (int k = 0; k < 3; k++)
        free(data[k]);
    store_close(st);
    tu_rm_rf(dir);
    free(dir);
}

/* Deleted chunks' ids never come back naming other bytes: the decoded-block
 * cache still holds the old blocks when new ones are written. */
static void test_no_stale_cache_after_gc(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("stale");
    es_store *st = tu_open(dir, 1);
    tu_make_repo(st, "org/m", NULL);
    tu_tensor t1[] = {{"w", 300000, 81}};
    tu_tensor t2[] = {{"w", 300000, 82}};
    size_t l1, l2;
    uint8_t *d1 = tu_make_safetensors(t1, 1, &l1);
    uint8_t *d2 = tu_make_safetensors(t2, 1, &l2);
    es_err err;
    tu_upload(st, "org/m", "m.safetensors", d1, l1);
    store_wait_idle(st);
    tu_expect_content(st, "org/m", "m.safetensors", d1, l1); /* cached now */
    assert_int_equal(
        store_file_delete(st, "org/m", NULL, "m.safetensors", &err), 0);
    store_wait_idle(st);
    tu_gc(st);
    tu_upload(st, "org/m", "m.safetensors", d2, l2);
    store_wait_idle(st);
    tu_expect_state(st, "org/m", "m.safetensors", "stored");
    tu_expect_content(st, "org/m", "m.safetensors", d2, l2);
    free(d1);
    free(d2);
    store_close(st);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_data_roundtrip),
        cmocka_unit_test(test_elf_mode),
        cmocka_unit_test(test_same_file_two_repos),
        cmocka_unit_test(test_replace_frees_chunks),
        cmocka_unit_test(test_shared_tensors),
        cmocka_unit_test(test_shared_units),
        cmocka_unit_test(test_refcount_sequences),
        cmocka_unit_test(test_compaction),
        cmocka_unit_test(test_corrupt_chunk),
        cmocka_unit_test(test_requeue_running),
        cmocka_unit_test(test_startup_cleanup),
        cmocka_unit_test(test_prune_old_jobs),
        cmocka_unit_test(test_concurrent_uploads),
        cmocka_unit_test(test_opaque_and_empty),
        cmocka_unit_test(test_read_across_compaction),
        cmocka_unit_test(test_concurrent_reads),
        cmocka_unit_test(test_no_stale_cache_after_gc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
