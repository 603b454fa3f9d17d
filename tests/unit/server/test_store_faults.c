/*
 * test_store_faults.c - what a failing chunk store does to the store, with
 * the store opened through fault_chunkstore.h (which fails the Nth call of
 * an operation, as SQLite's test VFS does):
 *
 *   ingest      a failed put (the first, the second, one in the middle, the
 *               last) or a failed sync before the commit: the job is
 *               retried and the file ends stored; an outage that lasts
 *               fails the job after MAX_ATTEMPTS, the file stays readable
 *               from its spool, and once the outage ends a re-upload works;
 *   GC          a failed del, iterate or drop: store_gc reports it, and a
 *               later one frees what the failed one did not; with a chunk
 *               store whose del really removes, a failed del leaves no
 *               tensor row that leads to deleted bytes;
 *   compaction  a failed read or put of a moved chunk, sync or drop: a
 *               later GC completes the compaction;
 *   downloads   a failed fetch is an error, never wrong bytes, and a
 *               "gone" chunk is looked up again;
 *   leases      a job whose lease ran out while it compressed (requeued
 *               as another replica would) commits nothing: the next
 *               claim stores the file.
 *
 * After every fault, every file still in the store reads back through a
 * reader with the SHA-256 it was uploaded with, and the reference counts
 * match the rows.  Files: real checkpoints of ELVES_SHARED_DATA, a copy of
 * one (whole-file dedup) and generated ones that share a tensor.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "fault_chunkstore.h"
#include "store_test_util.h"

#define MAX_ATTEMPTS 3 /* server/store/jobs.c */
#define REPO "org/m"

/* ---- the files
 * ---------------------------------------------------------------- */

typedef struct tfile {
    const char *path;
    uint8_t *data;
    size_t len;
    int live; /* expected in the store */
} tfile;

static tfile shared_file(const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", ELVES_SHARED_DATA, name);
    tfile f = {name, NULL, 0, 0};
    f.data = test_read_file(path, &f.len);
    if (!f.data)
        fail_msg("cannot read %s", path);
    return f;
}

/* x and y share tensor "a" (three 1 MiB blocks): tensor dedup. */
static const tu_tensor X_SPEC[] = {{"a", 700000, 1}, {"b", 60000, 2}};
static const tu_tensor Y_SPEC[] = {{"c", 300000, 3}, {"a", 700000, 1}};

static tfile made_file(const char *path, const tu_tensor *t, size_t n)
{
    tfile f = {path, NULL, 0, 0};
    f.data = tu_make_safetensors(t, n, &f.len);
    return f;
}

static void free_files(tfile *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(f[i].data);
}

static void upload_file(es_store *st, tfile *f)
{
    tu_upload(st, REPO, f->path, f->data, f->len);
    f->live = 1;
}

static void delete_file(es_store *st, tfile *f)
{
    es_err err;
    if (store_file_delete(st, REPO, NULL, f->path, &err) != 0)
        fail_msg("delete %s: %s", f->path, err.msg);
    f->live = 0;
}

/* Every file still in the store reads back as uploaded, and the
 * reference counts are exact. */
static void expect_all(es_store *st, const char *dir, const tfile *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (f[i].live)
            tu_expect_content(st, REPO, f[i].path, f[i].data, f[i].len);
    tu_check_refcounts(dir);
}

static void expect_stored(es_store *st, const tfile *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (f[i].live)
            tu_expect_state(st, REPO, f[i].path, "stored");
}

/* ---- the store
 * ------------------------------------------------------------------ */

/* The store through the fault wrapper.  Its decoded-block cache holds
 * nothing that is not in use, so every read after a fault comes from the
 * chunk store, not from blocks an earlier check left behind. */
static es_store *open_faulty(const char *dir, fc_state *fc, unsigned workers)
{
    store_config cfg = {.data_dir = dir,
                        .workers = workers,
                        .cache_bytes = 1,
                        .wrap_chunks = fc_wrap,
                        .wrap_ctx = fc};
    return tu_open_config(&cfg);
}

static int64_t job_column(const char *dir, int64_t job_id, const char *col)
{
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT %s FROM jobs WHERE id = %lld", col,
             (long long)job_id);
    tdb *db = tdb_open(dir);
    int64_t v = tdb_q1(db, sql);
    tdb_close(db);
    return v;
}

static void expect_job(es_store *st, int64_t job_id, const char *state)
{
    json_t *j = NULL;
    es_err err;
    assert_int_equal(store_job_get(st, job_id, &j, &err), 0);
    const char *got = json_string_value(json_object_get(j, "state"));
    if (strcmp(got, state) != 0)
        fail_msg("job %lld is %s, want %s", (long long)job_id, got, state);
    json_decref(j);
}

/* The error a file is marked with ("" if none). */
static char *file_error(es_store *st, const char *path)
{
    json_t *list = NULL;
    es_err err;
    assert_int_equal(store_file_list(st, REPO, NULL, &list, &err), 0);
    char *out = strdup("");
    size_t i;
    json_t *f;
    json_array_foreach(list, i, f)
    {
        const char *e = json_string_value(json_object_get(f, "error"));
        if (strcmp(json_string_value(json_object_get(f, "path")), path) == 0 &&
            e) {
            free(out);
            out = strdup(e);
        }
    }
    json_decref(list);
    return out;
}

/* Waits until op has failed `n` times in all (the job is between its
 * attempts or done with them). */
static void wait_failed(fc_state *fc, fc_op op, uint64_t n)
{
    double until = tu_now_s() + 30;
    while (fc_failed(fc, op) < n) {
        if (tu_now_s() > until)
            fail_msg("%s never failed %llu times", fc_op_name(op),
                     (unsigned long long)n);
        usleep(1000);
    }
}

static int pack_exists(const char *dir, int64_t id)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/packs/pack-%012lld.pack", dir,
             (long long)id);
    return access(path, F_OK) == 0;
}

/* ---- ingest
 * ---------------------------------------------------------------------
 * A scene: a fresh store (one worker, so the Nth call is the target job's)
 * holding a real checkpoint and x; then the target is uploaded: y (whose
 * tensor "a" is x's) or another real checkpoint. */

enum { T_Y, T_REAL };

typedef struct scene {
    char *dir;
    fc_state fc;
    es_store *st;
    tfile files[3]; /* real, x, target */
} scene;

static void scene_open(scene *s, int target)
{
    s->dir = tu_tmpdir("faults");
    fc_init(&s->fc);
    s->st = open_faulty(s->dir, &s->fc, 1);
    tu_make_repo(s->st, REPO, NULL);
    s->files[0] = shared_file("faceapi-face-landmark-68-tiny.safetensors");
    s->files[1] = made_file("x.safetensors", X_SPEC, 2);
    s->files[2] = target == T_Y
                      ? made_file("y.safetensors", Y_SPEC, 2)
                      : shared_file("faceapi-tiny-face-detector.safetensors");
    upload_file(s->st, &s->files[0]);
    upload_file(s->st, &s->files[1]);
    store_wait_idle(s->st);
    expect_stored(s->st, s->files, 2);
}

static void scene_close(scene *s)
{
    store_close(s->st);
    fc_destroy(&s->fc);
    free_files(s->files, 3);
    tu_rm_rf(s->dir);
    free(s->dir);
}

/* Puts and syncs the target's job makes when nothing fails. */
static void clean_counts(int target, uint64_t *puts, uint64_t *syncs)
{
    scene s;
    scene_open(&s, target);
    uint64_t p0 = fc_calls(&s.fc, FC_PUT), s0 = fc_calls(&s.fc, FC_SYNC);
    int64_t job =
        tu_upload(s.st, REPO, s.files[2].path, s.files[2].data, s.files[2].len);
    s.files[2].live = 1;
    store_wait_idle(s.st);
    expect_job(s.st, job, "done");
    expect_all(s.st, s.dir, s.files, 3);
    *puts = fc_calls(&s.fc, FC_PUT) - p0;
    *syncs = fc_calls(&s.fc, FC_SYNC) - s0;
    scene_close(&s);
}

/* The nth call of op during the target's job fails once: the job is
 * retried and everything reads back. */
static void ingest_fails_once(int target, fc_op op, uint64_t nth,
                              uint64_t clean_puts)
{
    scene s;
    scene_open(&s, target);
    uint64_t p0 = fc_calls(&s.fc, FC_PUT);
    fc_fail(&s.fc, op, nth, 1, 503, NULL);
    tfile *t = &s.files[2];
    int64_t job = tu_upload(s.st, REPO, t->path, t->data, t->len);
    t->live = 1;
    /* readable from its spool whatever the job is doing */
    tu_expect_content(s.st, REPO, t->path, t->data, t->len);
    store_wait_idle(s.st);
    assert_int_equal(fc_failed(&s.fc, op), 1);
    expect_job(s.st, job, "done");
    assert_int_equal(job_column(s.dir, job, "attempts"), 2);
    expect_stored(s.st, s.files, 3);
    expect_all(s.st, s.dir, s.files, 3);
    /* the first attempt stopped at the failed put, the second did them all */
    uint64_t puts = fc_calls(&s.fc, FC_PUT) - p0;
    if (op == FC_PUT)
        assert_int_equal(puts, nth + clean_puts);
    else
        assert_int_equal(puts, 2 * clean_puts);
    assert_int_equal(tu_count_dir(s.dir, "spool"), 0);
    scene_close(&s);
}

static void ingest_cases(int target)
{
    uint64_t puts, syncs;
    clean_counts(target, &puts, &syncs);
    assert_true(puts >= 3);
    assert_int_equal(syncs, 1);
    uint64_t nth[] = {1, 2, (puts + 1) / 2, puts};
    for (size_t i = 0; i < 4; i++) {
        if (i > 0 && nth[i] == nth[i - 1])
            continue;
        printf("ingest: put %llu of %llu fails\n", (unsigned long long)nth[i],
               (unsigned long long)puts);
        ingest_fails_once(target, FC_PUT, nth[i], puts);
    }
    printf("ingest: the sync before the commit fails\n");
    ingest_fails_once(target, FC_SYNC, 1, puts);
}

static void test_ingest_put_fails_y(void **state)
{
    (void)state;
    ingest_cases(T_Y);
}

static void test_ingest_put_fails_real(void **state)
{
    (void)state;
    ingest_cases(T_REAL);
}

/* The chunk store is down for the first two attempts: the third stores
 * the file. */
static void test_ingest_outage_ends(void **state)
{
    (void)state;
    scene s;
    scene_open(&s, T_REAL);
    fc_fail(&s.fc, FC_PUT, 1, MAX_ATTEMPTS - 1, 503, "object store down");
    tfile *t = &s.files[2];
    int64_t job = tu_upload(s.st, REPO, t->path, t->data, t->len);
    t->live = 1;
    store_wait_idle(s.st);
    assert_int_equal(fc_failed(&s.fc, FC_PUT), MAX_ATTEMPTS - 1);
    expect_job(s.st, job, "done");
    assert_int_equal(job_column(s.dir, job, "attempts"), MAX_ATTEMPTS);
    expect_stored(s.st, s.files, 3);
    expect_all(s.st, s.dir, s.files, 3);
    scene_close(&s);
}

/* The chunk store stays down: the job fails after its attempts, the file
 * is served from its spool all along, and a re-upload once the store is
 * back stores it. */
static void lasting_outage(fc_op op)
{
    scene s;
    scene_open(&s, T_REAL);
    fc_fail(&s.fc, op, 1, FC_LASTING, 503, "object store down");
    tfile *t = &s.files[2];
    int64_t job = tu_upload(s.st, REPO, t->path, t->data, t->len);
    t->live = 1;
    /* between attempts: not stored, readable from the spool */
    wait_failed(&s.fc, op, 1);
    store_file f;
    es_err err;
    assert_int_equal(store_file_lookup(s.st, REPO, NULL, t->path, &f, &err), 0);
    assert_string_not_equal(f.state, "stored");
    tu_expect_content(s.st, REPO, t->path, t->data, t->len);
    store_wait_idle(s.st);
    assert_int_equal(fc_failed(&s.fc, op), MAX_ATTEMPTS);
    expect_job(s.st, job, "failed");
    assert_int_equal(job_column(s.dir, job, "attempts"), MAX_ATTEMPTS);
    tu_expect_state(s.st, REPO, t->path, "failed");
    char *why = file_error(s.st, t->path);
    assert_non_null(strstr(why, "object store down"));
    assert_non_null(strstr(why, "attempts"));
    free(why);
    expect_all(s.st, s.dir, s.files, 3); /* the failed one from its spool */
    assert_int_equal(tu_count_dir(s.dir, "spool"), 1);
    /* the outage ends */
    fc_clear(&s.fc, op);
    job = tu_upload(s.st, REPO, t->path, t->data, t->len);
    store_wait_idle(s.st);
    expect_job(s.st, job, "done");
    expect_stored(s.st, s.files, 3);
    expect_all(s.st, s.dir, s.files, 3);
    assert_int_equal(tu_count_dir(s.dir, "spool"), 0);
    scene_close(&s);
}

static void test_ingest_lasting_put_outage(void **state)
{
    (void)state;
    lasting_outage(FC_PUT);
}

static void test_ingest_lasting_sync_outage(void **state)
{
    (void)state;
    lasting_outage(FC_SYNC);
}

/* The job's lease runs out while its chunks are synced (a pause longer
 * than the lease): the job is requeued, as the keeper of any replica does.
 * The worker must not commit a result that is no longer its own (fencing,
 * meta.h: job_owned); the next claim compresses the file again and stores
 * it.  Without the fence the first run would mark the job done at claim 1
 * over the requeue. */
static void requeue_running(void *dir)
{
    tdb *db = tdb_open(dir);
    tdb_exec(db, "UPDATE jobs SET state = 'queued', lease_until = NULL "
                 "WHERE state = 'running'");
    tdb_close(db);
}

static void test_lease_lost_commits_nothing(void **state)
{
    (void)state;
    scene s;
    scene_open(&s, T_Y);
    s.fc.on_sync_ctx = s.dir;
    s.fc.on_sync = requeue_running;
    tfile *t = &s.files[2];
    int64_t job = tu_upload(s.st, REPO, t->path, t->data, t->len);
    t->live = 1;
    store_wait_idle(s.st);
    assert_null(s.fc.on_sync); /* it ran */
    expect_job(s.st, job, "done");
    assert_int_equal(job_column(s.dir, job, "attempts"), 2);
    expect_all(s.st, s.dir, s.files, 3);
    scene_close(&s);
}

/* Two workers, four uploads at once, and the second put and the second
 * sync of the lot fail: whichever jobs they hit are retried (one attempt
 * more per fault) and all four end stored. */
static void test_ingest_concurrent(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("faultsmt");
    fc_state fc;
    fc_init(&fc);
    es_store *st = open_faulty(dir, &fc, 2);
    tu_make_repo(st, REPO, NULL);
    tfile files[] = {
        made_file("x.safetensors", X_SPEC, 2),
        made_file("y.safetensors", Y_SPEC, 2),
        shared_file("human-blazeface.safetensors"),
        shared_file("faceapi-tiny-face-detector.safetensors"),
    };
    size_t n = sizeof files / sizeof files[0];
    fc_fail(&fc, FC_PUT, 2, 1, 500, NULL);
    fc_fail(&fc, FC_SYNC, 2, 1, 500, NULL);
    int64_t jobs[4];
    for (size_t i = 0; i < n; i++) {
        jobs[i] =
            tu_upload(st, REPO, files[i].path, files[i].data, files[i].len);
        files[i].live = 1;
    }
    store_wait_idle(st);
    assert_int_equal(fc_failed(&fc, FC_PUT), 1);
    assert_int_equal(fc_failed(&fc, FC_SYNC), 1);
    int64_t attempts = 0;
    for (size_t i = 0; i < n; i++) {
        expect_job(st, jobs[i], "done");
        attempts += job_column(dir, jobs[i], "attempts");
    }
    assert_int_equal(attempts, (int64_t)n + 2);
    expect_stored(st, files, n);
    expect_all(st, dir, files, n);
    store_close(st);
    fc_destroy(&fc);
    free_files(files, n);
    tu_rm_rf(dir);
    free(dir);
}

/* ---- downloads
 * ------------------------------------------------------------------ */

/* Reads f through a reader in steps, comparing each step with the upload;
 * 0 when all of it read back, else -1 with err (what came before the
 * error was right). */
static int read_checked(es_store *st, const tfile *f, es_err *err)
{
    store_file sf;
    store_reader *r;
    if (store_file_lookup(st, REPO, NULL, f->path, &sf, err) != 0 ||
        store_reader_open(st, &sf, &r, err) != 0)
        return -1;
    uint8_t *buf = malloc(100000);
    uint64_t off = 0;
    int rc = 0;
    while (off < f->len) {
        size_t got = 0;
        if ((rc = store_reader_read(r, off, buf, 100000, &got, err)) != 0)
            break;
        assert_true(got > 0 && got <= f->len - off);
        assert_memory_equal(buf, f->data + off, got);
        off += got;
    }
    free(buf);
    store_reader_close(r);
    return rc;
}

/* A chunk store that fails reads makes downloads fail, never return wrong
 * bytes, and the first read after the fault works again. */
static void test_read_faults(void **state)
{
    (void)state;
    scene s;
    scene_open(&s, T_Y);
    const tfile *x = &s.files[1]; /* several blocks */
    es_err err;
    printf("read: every fetch fails\n");
    fc_fail(&s.fc, FC_FETCH, 1, FC_LASTING, 503, NULL);
    assert_int_equal(read_checked(s.st, x, &err), -1);
    assert_int_equal(err.status, 503);
    fc_clear(&s.fc, FC_FETCH);
    assert_int_equal(read_checked(s.st, x, &err), 0);
    /* one failed fetch: that read fails, unless read-ahead took the hit */
    printf("read: the second fetch fails\n");
    uint64_t failed = fc_failed(&s.fc, FC_FETCH);
    fc_fail(&s.fc, FC_FETCH, 2, 1, 503, NULL);
    if (read_checked(s.st, x, &err) != 0)
        assert_int_equal(err.status, 503);
    assert_int_equal(fc_failed(&s.fc, FC_FETCH), failed + 1);
    assert_int_equal(read_checked(s.st, x, &err), 0);
    /* "gone" (404, as after compaction): looked up again, read on */
    printf("read: a fetch says the chunk is gone\n");
    fc_fail(&s.fc, FC_FETCH, 1, 1, 404, "moved away");
    assert_int_equal(read_checked(s.st, x, &err), 0);
    assert_int_equal(fc_failed(&s.fc, FC_FETCH), failed + 2);
    expect_all(s.st, s.dir, s.files, 3);
    scene_close(&s);
}

/* ---- GC and compaction
 * ----------------------------------------------------------
 * Packs by run (each open of the store starts a new pack):
 *   1: h1 alone        deleted: a pack with nothing live, dropped
 *   2: h2 alone        deleted: the same, for the drop fault
 *   3: g and s         g deleted: s is under half the pack, compacted
 *   4: the rest, open  a real checkpoint and its copy (whole-file dedup),
 *                      x and y (tensor dedup), another checkpoint
 */

enum { F_H1, F_H2, F_G, F_S, F_REAL, F_COPY, F_X, F_Y, F_REAL2, NGC };

typedef struct gc_scene {
    char *dir;
    fc_state fc;
    es_store *st;
    tfile f[NGC];
} gc_scene;

static void gc_run(gc_scene *s, const int *which, size_t n)
{
    s->st = open_faulty(s->dir, &s->fc, 1);
    for (size_t i = 0; i < n; i++)
        upload_file(s->st, &s->f[which[i]]);
    store_wait_idle(s->st);
    expect_stored(s->st, s->f, NGC);
}

static void gc_scene_open(gc_scene *s)
{
    static const tu_tensor h1[] = {{"h", 100000, 51}};
    static const tu_tensor h2[] = {{"h", 100000, 52}};
    static const tu_tensor g[] = {{"g", 700000, 53}};
    static const tu_tensor sm[] = {{"s", 40000, 54}};
    s->dir = tu_tmpdir("faultsgc");
    fc_init(&s->fc);
    s->f[F_H1] = made_file("h1.safetensors", h1, 1);
    s->f[F_H2] = made_file("h2.safetensors", h2, 1);
    s->f[F_G] = made_file("g.safetensors", g, 1);
    s->f[F_S] = made_file("s.safetensors", sm, 1);
    s->f[F_REAL] = shared_file("human-blazeface.safetensors");
    s->f[F_COPY] = s->f[F_REAL];
    s->f[F_COPY].path = "copy.safetensors";
    s->f[F_COPY].data = malloc(s->f[F_REAL].len);
    memcpy(s->f[F_COPY].data, s->f[F_REAL].data, s->f[F_REAL].len);
    s->f[F_X] = made_file("x.safetensors", X_SPEC, 2);
    s->f[F_Y] = made_file("y.safetensors", Y_SPEC, 2);
    s->f[F_REAL2] = shared_file("faceapi-face-landmark-68-tiny.safetensors");

    s->st = open_faulty(s->dir, &s->fc, 1);
    tu_make_repo(s->st, REPO, NULL);
    store_close(s->st);
    static const int run1[] = {F_H1}, run2[] = {F_H2}, run3[] = {F_G, F_S};
    static const int run4[] = {F_REAL, F_COPY, F_X, F_Y, F_REAL2};
    gc_run(s, run1, 1);
    store_close(s->st);
    gc_run(s, run2, 1);
    store_close(s->st);
    gc_run(s, run3, 2);
    store_close(s->st);
    gc_run(s, run4, 5);
    for (int id = 1; id <= 4; id++)
        assert_true(pack_exists(s->dir, id));
    expect_all(s->st, s->dir, s->f, NGC);
}

static void gc_scene_close(gc_scene *s)
{
    store_close(s->st);
    fc_destroy(&s->fc);
    free_files(s->f, NGC);
    tu_rm_rf(s->dir);
    free(s->dir);
}

/* Deletes a file.  The delete asks a worker for a GC; that one must not
 * be the one the test arms its fault for, so every del fails until the
 * worker's collection has given up (it frees nothing: its rows roll
 * back). */
static void delete_quietly(gc_scene *s, int which)
{
    fc_fail(&s->fc, FC_DEL, 1, FC_LASTING, 503, "held back by the test");
    delete_file(s->st, &s->f[which]);
    store_wait_idle(s->st);
    fc_clear(&s->fc, FC_DEL);
}

/* store_gc fails with the injected fault and the store reads as before. */
static void gc_fails(gc_scene *s, fc_op op)
{
    json_t *rep = NULL;
    es_err err = {0, ""};
    uint64_t before = fc_failed(&s->fc, op);
    assert_int_equal(store_gc(s->st, &rep, &err), -1);
    assert_null(rep);
    assert_int_equal(fc_failed(&s->fc, op), before + 1);
    assert_int_equal(err.status, 503);
    assert_non_null(strstr(err.msg, "injected"));
    expect_all(s->st, s->dir, s->f, NGC);
}

static json_t *gc_ok(gc_scene *s)
{
    json_t *rep = NULL;
    es_err err;
    if (store_gc(s->st, &rep, &err) != 0)
        fail_msg("gc: %s", err.msg);
    expect_all(s->st, s->dir, s->f, NGC);
    return rep;
}

static int64_t db_count(const char *dir, const char *sql)
{
    tdb *db = tdb_open(dir);
    int64_t v = tdb_q1(db, sql);
    tdb_close(db);
    return v;
}

#define DEAD_CHUNKS "SELECT count(*) FROM chunks WHERE refcount = 0"

static void test_gc_faults(void **state)
{
    (void)state;
    gc_scene s;
    gc_scene_open(&s);

    /* del: x and the original of copy go; y keeps "a", copy keeps all */
    printf("gc: del fails (the first, then the second)\n");
    delete_file(s.st, &s.f[F_REAL]); /* frees nothing: copy holds it all */
    store_wait_idle(s.st);
    assert_int_equal(db_count(s.dir, DEAD_CHUNKS), 0);
    delete_quietly(&s, F_X);
    int64_t dead = db_count(s.dir, DEAD_CHUNKS);
    assert_true(dead >= 2);
    fc_fail(&s.fc, FC_DEL, 1, 1, 503, NULL);
    gc_fails(&s, FC_DEL);
    fc_fail(&s.fc, FC_DEL, 2, 1, 503, NULL);
    gc_fails(&s, FC_DEL);
    assert_int_equal(db_count(s.dir, DEAD_CHUNKS), dead); /* rolled back */
    json_t *rep = gc_ok(&s);
    assert_int_equal(tu_json_int(rep, "chunks_freed"), dead);
    json_decref(rep);
    assert_int_equal(db_count(s.dir, DEAD_CHUNKS), 0);

    /* iterate: h1's chunks are freed, then the walk over packs fails */
    printf("gc: iterate fails\n");
    delete_quietly(&s, F_H1);
    int64_t pack_bytes = tu_stat(s.st, "pack_bytes");
    fc_fail(&s.fc, FC_ITERATE, 1, 1, 503, NULL);
    gc_fails(&s, FC_ITERATE);
    assert_true(pack_exists(s.dir, 1));
    rep = gc_ok(&s);
    assert_int_equal(tu_json_int(rep, "packs_dropped"), 1);
    json_decref(rep);
    assert_false(pack_exists(s.dir, 1));
    assert_true(tu_stat(s.st, "pack_bytes") < pack_bytes);

    /* drop: h2's pack has nothing live, and dropping it fails */
    printf("gc: drop fails\n");
    delete_quietly(&s, F_H2);
    pack_bytes = tu_stat(s.st, "pack_bytes");
    fc_fail(&s.fc, FC_DROP, 1, 1, 503, NULL);
    gc_fails(&s, FC_DROP);
    assert_true(pack_exists(s.dir, 2));
    rep = gc_ok(&s);
    assert_int_equal(tu_json_int(rep, "packs_dropped"), 1);
    json_decref(rep);
    assert_false(pack_exists(s.dir, 2));
    assert_true(tu_stat(s.st, "pack_bytes") < pack_bytes);
    gc_scene_close(&s);
}

/* Rows go before bytes.  With a chunk store whose del really removes, a
 * collection whose last del fails has deleted the bytes of the other dead
 * chunks; the dead tensors' rows must be gone already, or a new upload of
 * the same tensors would reuse chunks that no longer exist. */
static void test_gc_rows_before_bytes(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("faultsorder");
    fc_state fc;
    fc_init(&fc);
    fc.del_removes = 1;
    es_store *st = open_faulty(dir, &fc, 1);
    tu_make_repo(st, REPO, NULL);
    tfile f[2] = {made_file("x.safetensors", X_SPEC, 2),
                  made_file("again.safetensors", X_SPEC, 2)};
    upload_file(st, &f[0]);
    store_wait_idle(st);
    expect_stored(st, f, 2);

    /* x goes; the GC its delete asks for fails at its first del */
    fc_fail(&fc, FC_DEL, 1, FC_LASTING, 503, "held back by the test");
    delete_file(st, &f[0]);
    store_wait_idle(st);
    fc_clear(&fc, FC_DEL);
    int64_t dead = db_count(dir, DEAD_CHUNKS);
    assert_true(dead >= 2);

    printf("gc: the last del fails, after the others removed their bytes\n");
    fc_fail(&fc, FC_DEL, (uint64_t)dead, 1, 503, NULL);
    json_t *rep = NULL;
    es_err err;
    assert_int_equal(store_gc(st, &rep, &err), -1);
    assert_int_equal(err.status, 503);
    assert_int_equal(db_count(dir, "SELECT count(*) FROM tensors"), 0);
    assert_int_equal(db_count(dir, DEAD_CHUNKS), dead); /* still to delete */

    /* the same tensors again: encoded anew, not found among the dead */
    upload_file(st, &f[1]);
    store_wait_idle(st);
    expect_stored(st, f, 2);
    expect_all(st, dir, f, 2);

    /* the next collection deletes what the failed one left */
    if (store_gc(st, &rep, &err) != 0)
        fail_msg("gc: %s", err.msg);
    assert_int_equal(tu_json_int(rep, "chunks_freed"), dead);
    json_decref(rep);
    assert_int_equal(db_count(dir, DEAD_CHUNKS), 0);
    expect_all(st, dir, f, 2);

    store_close(st);
    fc_destroy(&fc);
    free_files(f, 2);
    tu_rm_rf(dir);
    free(dir);
}

static void test_compaction_faults(void **state)
{
    (void)state;
    gc_scene s;
    gc_scene_open(&s);
    delete_quietly(&s, F_G);
    int64_t moving = db_count(s.dir, "SELECT count(*) FROM chunks WHERE "
                                     "pack = 3 AND refcount > 0");
    assert_true(moving >= 2);
    int64_t pack_bytes = tu_stat(s.st, "pack_bytes");
    /* the first GC frees g's rows; then every copy of s fails */
    printf("compaction: reading the first chunk to move fails\n");
    fc_fail(&s.fc, FC_GET, 1, 1, 503, NULL);
    gc_fails(&s, FC_GET);
    printf("compaction: put 1 of %lld fails\n", (long long)moving);
    fc_fail(&s.fc, FC_PUT, 1, 1, 503, NULL);
    gc_fails(&s, FC_PUT);
    printf("compaction: put %lld of %lld fails\n", (long long)moving,
           (long long)moving);
    fc_fail(&s.fc, FC_PUT, (uint64_t)moving, 1, 503, NULL);
    gc_fails(&s, FC_PUT);
    printf("compaction: sync fails\n");
    fc_fail(&s.fc, FC_SYNC, 1, 1, 503, NULL);
    gc_fails(&s, FC_SYNC);
    assert_int_equal(db_count(s.dir, "SELECT count(*) FROM chunks WHERE "
                                     "pack = 3"),
                     moving); /* nothing moved yet */
    /* the chunks are moved and the old pack forgotten, but not dropped:
     * the next GC finds it empty and drops it */
    printf("compaction: drop fails\n");
    fc_fail(&s.fc, FC_DROP, 1, 1, 503, NULL);
    gc_fails(&s, FC_DROP);
    assert_int_equal(db_count(s.dir, "SELECT count(*) FROM chunks WHERE "
                                     "pack = 3"),
                     0);
    assert_true(pack_exists(s.dir, 3));
    json_t *rep = gc_ok(&s);
    assert_int_equal(tu_json_int(rep, "packs_dropped"), 1);
    json_decref(rep);
    assert_false(pack_exists(s.dir, 3));
    assert_true(tu_stat(s.st, "pack_bytes") < pack_bytes);
    /* and after a reopen, without the wrapper's help */
    store_close(s.st);
    s.st = tu_open(s.dir, 1);
    expect_all(s.st, s.dir, s.f, NGC);
    gc_scene_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ingest_put_fails_y),
        cmocka_unit_test(test_ingest_put_fails_real),
        cmocka_unit_test(test_ingest_outage_ends),
        cmocka_unit_test(test_ingest_lasting_put_outage),
        cmocka_unit_test(test_ingest_lasting_sync_outage),
        cmocka_unit_test(test_ingest_concurrent),
        cmocka_unit_test(test_lease_lost_commits_nothing),
        cmocka_unit_test(test_read_faults),
        cmocka_unit_test(test_gc_faults),
        cmocka_unit_test(test_gc_rows_before_bytes),
        cmocka_unit_test(test_compaction_faults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
