/*
 * test_meta_copy.c - meta_copy (server/meta/meta_copy.c), the row copy of
 * `elvesd migrate`, from a SQLite store into a PostgreSQL schema: the
 * reference counts the target's triggers make equal the source's, a
 * running job comes over queued, the id sequences move past the copied
 * ids, a second run copies nothing, a run cut before its last stage is
 * completed, and a target with other data is refused (409).  The chunk
 * bytes stay where they are (the S3 side is tests/e2e/scaleout.sh's).
 * Needs PostgreSQL: as unit.test_meta_copy (no ELVES_TEST_DATABASE) it
 * skips; unit.test_meta_copy.postgres runs it.
 */
#include "meta.h"
#include "store_test_util.h"

static const char *dst_url;
static char *src_dir, *dst_dir;

static void make_source(void)
{
    src_dir = tu_tmpdir("copy-src");
    store_config cfg = {.data_dir = src_dir, .workers = 1, .decode_threads = 2};
    es_store *st = NULL;
    es_err err = {0, ""};
    if (store_open(&st, &cfg, &err) != 0) /* database NULL: SQLite */
        fail_msg("store_open: %s", err.msg);
    tu_make_repo(st, "org/a", NULL);
    tu_make_repo(st, "org/b", NULL);
    tu_tensor t[] = {{"w", 300000, 1}, {"b", 1000, 2}};
    size_t len;
    uint8_t *file = tu_make_safetensors(t, 2, &len);
    tu_upload(st, "org/a", "m.safetensors", file, len);
    tu_upload(st, "org/b", "same.safetensors", file, len); /* dedup */
    tu_upload(st, "org/b", "notes.txt", (const uint8_t *)"hello", 5);
    store_wait_idle(st);
    free(file);
    store_close(st);
    /* as a kill -9 mid-job leaves it */
    tdb *db = calloc(1, sizeof *db);
    char path[4200];
    snprintf(path, sizeof path, "%s/elves.db", src_dir);
    assert_int_equal(sqlite3_open(path, &db->sq), SQLITE_OK);
    tdb_exec(db, "UPDATE jobs SET state = 'running', lease_until = 99 WHERE "
                 "id = (SELECT max(id) FROM jobs)");
    tdb_close(db);
}

static int setup(void **state)
{
    (void)state;
    if (!tdb_server())
        return 0;
    make_source();
    dst_dir = tu_tmpdir("copy-dst");
    dst_url = strdup(tdb_database(dst_dir));
    return 0;
}

static void open_both(meta **src, meta **dst)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/elves.db", src_dir);
    meta_config a = {.backend = "sqlite", .path = path};
    meta_config b = {.backend = "postgres", .url = dst_url};
    es_err err = {0, ""};
    if (meta_open(src, &a, &err) < 0 || meta_open(dst, &b, &err) < 0)
        fail_msg("meta_open: %s", err.msg);
}

/* One whole run (chunks keep their locations); the rows it made new. */
static int run_copy(int64_t *rows, int64_t *chunks, int cut, es_err *err)
{
    meta *src, *dst;
    meta_copy *c = NULL;
    open_both(&src, &dst);
    int64_t n1 = 0, n2 = 0, present;
    *chunks = 0;
    int rc = meta_copy_open(&c, src, dst, err);
    if (rc == 0)
        rc = meta_copy_rows(c, META_COPY_BEFORE_CHUNKS, &n1, err);
    meta_copy_chunk batch[7];
    size_t n;
    for (int64_t after = 0, last; rc == 0; after = last) {
        int more = meta_copy_chunks_next(c, after, batch, 7, &n, &last,
                                         &present, err);
        if (more <= 0) {
            rc = more;
            break;
        }
        if (n && (rc = meta_copy_chunks_add(c, batch, n, err)) == 0)
            *chunks += (int64_t)n;
    }
    if (rc == 0 && !cut)
        rc = meta_copy_rows(c, META_COPY_AFTER_CHUNKS, &n2, err);
    if (rc == 0 && !cut)
        rc = meta_copy_finish(c, err);
    *rows = n1 + n2;
    meta_copy_free(c);
    meta_close(dst);
    meta_close(src);
    return rc;
}

static int64_t src_q1(const char *sql)
{
    char path[4200];
    sqlite3 *db;
    sqlite3_stmt *s;
    snprintf(path, sizeof path, "%s/elves.db", src_dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    int64_t v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

static void test_copy_cut_again_refused(void **state)
{
    (void)state;
    if (!tdb_server())
        skip();
    es_err err = {0, ""};
    int64_t rows, chunks;

    /* cut before the rows that name chunks: completed by the next run */
    if (run_copy(&rows, &chunks, 1, &err) < 0)
        fail_msg("cut copy: %s", err.msg);
    assert_true(rows > 0 && chunks > 0);
    if (run_copy(&rows, &chunks, 0, &err) < 0)
        fail_msg("copy: %s", err.msg);
    assert_true(rows > 0);
    assert_int_equal(chunks, 0); /* recorded by the cut run */

    tdb *db = tdb_open(dst_dir);
    static const char *const same[] = {
        "SELECT count(*) FROM files", "SELECT count(*) FROM file_blocks",
        "SELECT coalesce(sum(refcount), 0) FROM chunks",
        "SELECT coalesce(sum(refcount), 0) FROM tensors",
        "SELECT count(*) FROM tree_entries",
        "SELECT coalesce(sum(live_bytes), 0) FROM packs"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
        if (src_q1(same[i]) != tdb_q1(db, same[i]))
            fail_msg("%s: %lld here, %lld there", same[i],
                     (long long)src_q1(same[i]), (long long)tdb_q1(db, same[i]));
    tu_check_refcounts(dst_dir);
    assert_int_equal(tdb_q1(db, "SELECT count(*) FROM jobs WHERE state = "
                                "'running' OR (id = (SELECT max(id) FROM "
                                "jobs) AND (state <> 'queued' OR "
                                "lease_until IS NOT NULL))"),
                     0);
    assert_int_equal(tdb_q1(db, "SELECT count(*) FROM chunks WHERE refcount "
                                "= 0 AND dead_since IS NULL"),
                     0);
    /* new rows get ids past the copied ones */
    assert_true(tdb_q1(db, "SELECT nextval(pg_get_serial_sequence('files', "
                           "'id'))") > src_q1("SELECT max(id) FROM files"));
    assert_true(tdb_q1(db, "SELECT nextval(pg_get_serial_sequence('chunks', "
                           "'id'))") > src_q1("SELECT max(id) FROM chunks"));

    /* a third run copies nothing */
    if (run_copy(&rows, &chunks, 0, &err) < 0)
        fail_msg("third copy: %s", err.msg);
    assert_int_equal(rows, 0);
    assert_int_equal(chunks, 0);

    /* a row of the target that is not the source's: refused */
    tdb_exec(db, "UPDATE files SET sha256 = repeat('0', 64) WHERE id = "
                 "(SELECT min(id) FROM files)");
    assert_int_equal(run_copy(&rows, &chunks, 0, &err), -1);
    assert_int_equal(err.status, 409);
    assert_non_null(strstr(err.msg, "holds other data"));
    /* a repository the source lacks: refused before anything is written */
    tdb_exec(db, "UPDATE repos SET name = 'other/x' WHERE name = 'org/a'");
    assert_int_equal(run_copy(&rows, &chunks, 0, &err), -1);
    assert_int_equal(err.status, 409);
    assert_non_null(strstr(err.msg, "other/x"));
    tdb_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_cut_again_refused),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
