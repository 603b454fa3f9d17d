/*
 * test_store_meta_faults.c - what a failing metadata backend does to the
 * store (fault_meta.h: the Nth transaction begin or commit fails, as a
 * database that is gone, full or locked would).  An upload whose commit
 * fails is an error its client sees and leaves nothing behind; a failure
 * at any transaction of a compression job, or of a delete and its GC,
 * leaves every acknowledged file readable byte-exact, and the job still
 * ends "done" (retried where the failure happened) and stays so across a
 * restart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "fault_meta.h"
#include "store_test_util.h"

#define REPO "org/m"

static const tu_tensor X_SPEC[] = {{"a", 300000, 1}, {"b", 40000, 2}};
static const tu_tensor Y_SPEC[] = {{"c", 200000, 3}, {"a", 300000, 1}};

typedef struct scene {
    char *dir;
    fm_state fm;
    es_store *st;
    uint8_t *x, *y;
    size_t xlen, ylen;
} scene;

static es_store *open_wrapped(scene *s)
{
    store_config cfg = {.data_dir = s->dir,
                        .workers = 1,
                        .wrap_meta = fm_wrap,
                        .wrap_meta_ctx = &s->fm};
    return tu_open_config(&cfg);
}

/* A store holding x, stored; y made but not uploaded. */
static void scene_open(scene *s)
{
    s->dir = tu_tmpdir("metafaults");
    fm_init(&s->fm);
    s->st = open_wrapped(s);
    s->x = tu_make_safetensors(X_SPEC, 2, &s->xlen);
    s->y = tu_make_safetensors(Y_SPEC, 2, &s->ylen);
    tu_make_repo(s->st, REPO, NULL);
    tu_upload(s->st, REPO, "x.safetensors", s->x, s->xlen);
    store_wait_idle(s->st);
    tu_expect_state(s->st, REPO, "x.safetensors", "stored");
}

/* Closes the wrapped store and opens the plain one on the same data, as
 * a restart after the database came back would. */
static void scene_restart(scene *s)
{
    store_close(s->st);
    fm_destroy(&s->fm);
    s->st = tu_open(s->dir, 1);
    store_wait_idle(s->st);
}

static void scene_close(scene *s)
{
    store_close(s->st);
    free(s->x);
    free(s->y);
    tu_rm_rf(s->dir);
    free(s->dir);
}

/* The job's state once it is done or failed, or after `seconds` (a job
 * whose end could not be recorded stays "running" until a restart). */
static void wait_job(es_store *st, int64_t job, double seconds, char *state,
                     size_t cap)
{
    double until = tu_now_s() + seconds;
    for (;;) {
        json_t *j = NULL;
        es_err err;
        snprintf(state, cap, "?");
        if (store_job_get(st, job, &j, &err) == 0) {
            snprintf(state, cap, "%s",
                     json_string_value(json_object_get(j, "state")));
            json_decref(j);
        }
        if (!strcmp(state, "done") || !strcmp(state, "failed") ||
            tu_now_s() > until)
            return;
        struct timespec pause = {0, 20 * 1000000L};
        nanosleep(&pause, NULL);
    }
}

static void test_upload_commit_fails(void **state)
{
    scene s;
    scene_open(&s);
    fm_fail(&s.fm, FM_COMMIT, 1, 1, 503, "database is gone");
    es_err err = {0};
    json_t *j = tu_upload_bytes(s.st, REPO, "y.safetensors", s.y, s.ylen, &err);
    assert_null(j);
    assert_int_equal(err.status, 503);
    assert_non_null(strstr(err.msg, "database is gone"));
    assert_int_equal(tu_count_dir(s.dir, "spool"), 0); /* nothing left behind */
    store_file f;
    assert_int_equal(
        store_file_lookup(s.st, REPO, NULL, "y.safetensors", &f, &err), -1);
    assert_int_equal(err.status, 404);
    tu_expect_content(s.st, REPO, "x.safetensors", s.x, s.xlen);

    fm_fail(&s.fm, FM_BEGIN, 1, 1, 503, NULL);
    assert_null(
        tu_upload_bytes(s.st, REPO, "y.safetensors", s.y, s.ylen, &err));
    assert_int_equal(err.status, 503);
    assert_int_equal(tu_count_dir(s.dir, "spool"), 0);

    /* the database is back: the same upload goes through */
    tu_upload(s.st, REPO, "y.safetensors", s.y, s.ylen);
    store_wait_idle(s.st);
    tu_expect_state(s.st, REPO, "y.safetensors", "stored");
    tu_expect_content(s.st, REPO, "y.safetensors", s.y, s.ylen);
    tu_check_refcounts(s.dir);
    scene_close(&s);
}

/* Commits (or begins) a clean upload of y and its job make. */
static uint64_t clean_calls(fm_op op)
{
    scene s;
    scene_open(&s);
    uint64_t c0 = fm_calls(&s.fm, op);
    tu_upload(s.st, REPO, "y.safetensors", s.y, s.ylen);
    store_wait_idle(s.st);
    uint64_t n = fm_calls(&s.fm, op) - c0;
    scene_close(&s);
    return n;
}

/* The kth begin or commit from y's upload on fails (k = 1 is the upload's
 * own, which its client sees): afterwards, and after a restart, x and y
 * read back byte-exact, y's job is done and the counts are right. */
static void job_step_fails(fm_op op, uint64_t k)
{
    scene s;
    scene_open(&s);
    fm_fail(&s.fm, op, k, 1, 503, NULL);
    es_err err = {0};
    json_t *j = tu_upload_bytes(s.st, REPO, "y.safetensors", s.y, s.ylen, &err);
    if (k == 1) {
        assert_null(j);
        assert_int_equal(err.status, 503);
        scene_close(&s);
        return;
    }
    assert_non_null(j);
    int64_t job = tu_json_int(j, "job_id");
    json_decref(j);
    tu_expect_content(s.st, REPO, "y.safetensors", s.y, s.ylen);
    char st8[16];
    wait_job(s.st, job, 10, st8, sizeof st8);
    /* the kth transaction may come after the job is done (the GC it asks
     * for): wait for it too */
    for (double until = tu_now_s() + 10;
         fm_failed(&s.fm, op) == 0 && tu_now_s() < until;) {
        struct timespec pause = {0, 20 * 1000000L};
        nanosleep(&pause, NULL);
    }
    assert_int_equal(fm_failed(&s.fm, op), 1);
    /* one failure is retried where it happened: no restart needed */
    if (strcmp(st8, "done") != 0)
        fail_msg("%s %llu failed: job '%s' before a restart, not done",
                 fm_op_names[op], (unsigned long long)k, st8);
    tu_expect_content(s.st, REPO, "x.safetensors", s.x, s.xlen);
    tu_expect_content(s.st, REPO, "y.safetensors", s.y, s.ylen);
    scene_restart(&s);
    wait_job(s.st, job, 10, st8, sizeof st8);
    if (strcmp(st8, "done") != 0)
        fail_msg("%s %llu failed: job ended '%s', not done", fm_op_names[op],
                 (unsigned long long)k, st8);
    tu_expect_state(s.st, REPO, "y.safetensors", "stored");
    tu_expect_content(s.st, REPO, "x.safetensors", s.x, s.xlen);
    tu_expect_content(s.st, REPO, "y.safetensors", s.y, s.ylen);
    tu_check_refcounts(s.dir);
    assert_int_equal(tu_count_dir(s.dir, "spool"), 0);
    scene_close(&s);
}

static void test_each_job_commit_fails(void **state)
{
    uint64_t n = clean_calls(FM_COMMIT);
    assert_true(n >= 3); /* upload, claim, the job's result */
    for (uint64_t k = 1; k <= n; k++)
        job_step_fails(FM_COMMIT, k);
}

static void test_each_job_begin_fails(void **state)
{
    uint64_t n = clean_calls(FM_BEGIN);
    assert_true(n >= 3);
    for (uint64_t k = 1; k <= n; k++)
        job_step_fails(FM_BEGIN, k);
}

/* A delete whose commit fails changes nothing; GC whose commit fails
 * frees nothing; both go through once the database is back. */
static void test_delete_and_gc_commit_fail(void **state)
{
    scene s;
    scene_open(&s);
    tu_upload(s.st, REPO, "y.safetensors", s.y, s.ylen);
    store_wait_idle(s.st);
    es_err err = {0};
    fm_fail(&s.fm, FM_COMMIT, 1, 1, 503, NULL);
    assert_int_equal(store_file_delete(s.st, REPO, NULL, "x.safetensors", &err),
                     -1);
    assert_int_equal(err.status, 503);
    tu_expect_content(s.st, REPO, "x.safetensors", s.x, s.xlen);
    assert_int_equal(store_file_delete(s.st, REPO, NULL, "x.safetensors", &err),
                     0);
    store_wait_idle(s.st); /* the GC the delete asked for */
    fm_fail(&s.fm, FM_COMMIT, 1, FM_LASTING, 503, NULL);
    json_t *report = NULL;
    assert_int_equal(store_gc(s.st, &report, &err), -1);
    assert_int_equal(err.status, 503);
    fm_clear(&s.fm, FM_COMMIT);
    tu_expect_content(s.st, REPO, "y.safetensors", s.y, s.ylen);
    tu_gc(s.st);
    tu_expect_content(s.st, REPO, "y.safetensors", s.y, s.ylen);
    tu_check_refcounts(s.dir);
    scene_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upload_commit_fails),
        cmocka_unit_test(test_each_job_commit_fails),
        cmocka_unit_test(test_each_job_begin_fails),
        cmocka_unit_test(test_delete_and_gc_commit_fail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
