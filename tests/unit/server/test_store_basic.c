/*
 * test_store_basic.c - the store's metadata and upload path: migrations
 * applied and recorded, a newer database refused, repository CRUD and name
 * validation, path validation, spool upload, lookup, full and ranged reads
 * from the spool, file listing and deletion, revisions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "migrate.h"
#include "store_test_util.h"

static void test_migrations_recorded(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("mig");
    es_store *st = tu_open(dir, 1);
    store_close(st);
    tdb *db = tdb_open(dir);
    assert_int_equal(tdb_q1(db, "SELECT count(*) FROM schema_migrations WHERE "
                                "version = 1 AND name = '0001_init' AND "
                                "applied_at > 0"),
                     1);
    assert_int_equal(tdb_q1(db, "SELECT max(version) FROM schema_migrations"),
                     meta_migrations_known_newest());
    if (db->sq) { /* WAL mode stuck to the file. */
        sqlite3_stmt *s;
        assert_int_equal(
            sqlite3_prepare_v2(db->sq, "PRAGMA journal_mode", -1, &s, NULL),
            SQLITE_OK);
        assert_int_equal(sqlite3_step(s), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
        sqlite3_finalize(s);
    }
    /* A second open applies nothing twice. */
    tdb_close(db);
    st = tu_open(dir, 1);
    store_close(st);
    db = tdb_open(dir);
    assert_int_equal(tdb_q1(db, "SELECT count(*) FROM schema_migrations"),
                     meta_migrations_count);
    tdb_close(db);
    tu_rm_rf(dir);
    free(dir);
}

static void test_newer_database_refused(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("newer");
    store_close(tu_open(dir, 1));
    tdb *db = tdb_open(dir);
    tdb_exec(db, "INSERT INTO schema_migrations VALUES (9999, '9999_future', "
                 "0)");
    tdb_close(db);
    store_config cfg = {.data_dir = dir,
                        .database = tdb_database(dir),
                        .workers = 1,
                        .decode_threads = 1};
    es_store *st = NULL;
    es_err err = {0, ""};
    assert_int_equal(store_open(&st, &cfg, &err), -1);
    assert_int_equal(err.status, 500);
    assert_non_null(strstr(err.msg, "newer"));
    assert_non_null(strstr(err.msg, "9999"));
    tu_rm_rf(dir);
    free(dir);
}

static void test_repo_names(void **state)
{
    (void)state;
    assert_true(store_repo_name_valid("org/model"));
    assert_true(store_repo_name_valid("A-b_c.d/x.y-z_1"));
    assert_false(store_repo_name_valid("org"));
    assert_false(store_repo_name_valid("org/"));
    assert_false(store_repo_name_valid("/model"));
    assert_false(store_repo_name_valid("a/b/c"));
    assert_false(store_repo_name_valid(".org/model"));
    assert_false(store_repo_name_valid("org/-model"));
    assert_false(store_repo_name_valid("org/mo..del"));
    assert_false(store_repo_name_valid("org/mo del"));
    assert_false(store_repo_name_valid("org/mo\\del"));
    assert_false(store_repo_name_valid(NULL));
    char longname[200];
    memset(longname, 'a', sizeof longname);
    longname[96] = '/';
    longname[98] = '\0';
    assert_true(store_repo_name_valid(longname)); /* 96 + "/" + 1 */
    memset(longname, 'a', sizeof longname);
    longname[97] = '/';
    longname[99] = '\0';
    assert_false(store_repo_name_valid(longname)); /* 97 chars */
}

static void test_paths(void **state)
{
    (void)state;
    assert_true(store_path_valid("model.safetensors"));
    assert_true(store_path_valid("a/b/c.json"));
    assert_true(store_path_valid("a/.hidden/..x"));
    assert_false(store_path_valid(""));
    assert_false(store_path_valid("/etc/passwd"));
    assert_false(store_path_valid("../x"));
    assert_false(store_path_valid("a/../x"));
    assert_false(store_path_valid("a/.."));
    assert_false(store_path_valid("./a"));
    assert_false(store_path_valid("a//b"));
    assert_false(store_path_valid("a/"));
    assert_false(store_path_valid("a\\b"));
    assert_false(store_path_valid("a\nb"));
    assert_false(store_path_valid("a\x7f"));
    assert_false(store_path_valid(NULL));
    char p[1100];
    memset(p, 'x', sizeof p);
    p[1024] = '\0';
    assert_true(store_path_valid(p));
    p[1024] = 'x';
    p[1025] = '\0';
    assert_false(store_path_valid(p));
}

static void test_repo_crud(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("crud");
    es_store *st = tu_open(dir, 1);
    es_err err;
    json_t *j = NULL;
    assert_int_equal(store_repo_create(st, "org/a", NULL, &j, &err), 0);
    assert_string_equal(json_string_value(json_object_get(j, "mode")),
                        "lossless");
    const char *main_head = json_string_value(
        json_object_get(json_object_get(j, "branches"), "main"));
    assert_non_null(main_head);
    assert_int_equal(strlen(main_head), 40);
    json_decref(j);
    assert_int_equal(store_repo_create(st, "org/a", "elf", &j, &err), -1);
    assert_int_equal(err.status, 409);
    assert_int_equal(store_repo_create(st, "org/b", "lossy", &j, &err), -1);
    assert_int_equal(err.status, 400);
    assert_int_equal(store_repo_create(st, "bad name", NULL, &j, &err), -1);
    assert_int_equal(err.status, 400);
    assert_int_equal(store_repo_create(st, "org/b", "elf", &j, &err), 0);
    json_decref(j);
    assert_int_equal(store_repo_list(st, &j, &err), 0);
    assert_int_equal(json_array_size(j), 2);
    json_decref(j);
    assert_int_equal(store_repo_get(st, "org/zzz", &j, &err), -1);
    assert_int_equal(err.status, 404);
    assert_int_equal(store_repo_delete(st, "org/a", &err), 0);
    assert_int_equal(store_repo_delete(st, "org/a", &err), -1);
    assert_int_equal(err.status, 404);
    assert_int_equal(store_repo_get(st, "org/b", &j, &err), 0);
    assert_string_equal(json_string_value(json_object_get(j, "mode")), "elf");
    json_decref(j);
    store_close(st);
    tu_rm_rf(dir);
    free(dir);
}

static uint8_t *pattern(size_t n, uint32_t seed)
{
    uint8_t *p = malloc(n);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
    return p;
}

static void test_spool_upload_and_reads(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("spool");
    es_store *st = tu_open(dir, 1);
    es_err err;
    json_t *j = NULL;
    assert_int_equal(store_repo_create(st, "org/m", NULL, &j, &err), 0);
    json_decref(j);
    size_t n = 3 * 1000 * 1000 + 17;
    uint8_t *data = pattern(n, 7);
    char hex[65];
    tu_sha_hex(hex, data, n);
    j = tu_upload_bytes(st, "org/m", "w/model.bin", data, n, &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "sha256")), hex);
    assert_int_equal(tu_json_int(j, "size"), (int64_t)n);
    assert_true(tu_json_int(j, "job_id") > 0);
    json_decref(j);

    store_file f;
    assert_int_equal(
        store_file_lookup(st, "org/m", NULL, "w/model.bin", &f, &err), 0);
    assert_int_equal(f.size, n);
    assert_string_equal(f.sha256, hex);
    assert_int_equal(
        store_file_lookup(st, "org/m", f.commit, "w/model.bin", &f, &err), 0);
    store_reader *r;
    assert_int_equal(store_reader_open(st, &f, &r, &err), 0);
    /* ranged reads at assorted offsets */
    uint8_t buf[70000];
    for (int i = 0; i < 200; i++) {
        uint64_t off = ((uint64_t)i * 7919 * 131) % n;
        size_t len = (size_t)(i * 337) % sizeof buf + 1;
        size_t got = 0;
        assert_int_equal(store_reader_read(r, off, buf, len, &got, &err), 0);
        size_t want = n - off < len ? n - off : len;
        assert_int_equal(got, want);
        assert_memory_equal(buf, data + off, got);
    }
    size_t got = 1;
    assert_int_equal(store_reader_read(r, n, buf, 10, &got, &err), 0);
    assert_int_equal(got, 0);
    store_reader_close(r);

    size_t len;
    uint8_t *back = tu_download(st, "org/m", "w/model.bin", 65536, &len, &err);
    assert_non_null(back);
    assert_int_equal(len, n);
    assert_memory_equal(back, data, n);
    free(back);
    free(data);
    store_close(st);
    tu_rm_rf(dir);
    free(dir);
}

static void test_upload_errors(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("uperr");
    es_store *st = tu_open(dir, 1);
    es_err err;
    json_t *j = NULL;
    assert_int_equal(store_repo_create(st, "org/m", NULL, &j, &err), 0);
    json_decref(j);
    store_spool *sp;
    /* wrong checksum: 400, nothing stored */
    assert_int_equal(store_spool_begin(st, &sp, &err), 0);
    assert_int_equal(store_spool_write(sp, "hello", 5, &err), 0);
    assert_int_equal(store_spool_commit(st, sp, "org/m", NULL, "a.txt",
                                        "00112233445566778899aabbccddeeff"
                                        "00112233445566778899aabbccddeeff",
                                        &j, &err),
                     -1);
    assert_int_equal(err.status, 400);
    store_file f;
    assert_int_equal(store_file_lookup(st, "org/m", NULL, "a.txt", &f, &err),
                     -1);
    assert_int_equal(err.status, 404);
    /* right checksum, upper case accepted */
    assert_int_equal(store_spool_begin(st, &sp, &err), 0);
    assert_int_equal(store_spool_write(sp, "hello", 5, &err), 0);
    assert_int_equal(store_spool_commit(st, sp, "org/m", NULL, "a.txt",
                                        "2CF24DBA5FB0A30E26E83B2AC5B9E29E"
                                        "1B161E5C1FA7425E73043362938B9824",
                                        &j, &err),
                     0);
    json_decref(j);
    /* bad path, unknown repo, unknown branch */
    assert_null(tu_upload_bytes(st, "org/m", "../x", "x", 1, &err));
    assert_int_equal(err.status, 400);
    assert_null(tu_upload_bytes(st, "org/none", "x", "x", 1, &err));
    assert_int_equal(err.status, 404);
    assert_int_equal(store_spool_begin(st, &sp, &err), 0);
    assert_int_equal(
        store_spool_commit(st, sp, "org/m", "dev", "x", NULL, &j, &err), -1);
    assert_int_equal(err.status, 404);
    /* file vs directory clashes */
    assert_null(tu_upload_bytes(st, "org/m", "a.txt/b", "x", 1, &err));
    assert_int_equal(err.status, 409);
    j = tu_upload_bytes(st, "org/m", "d/e", "x", 1, &err);
    assert_non_null(j);
    json_decref(j);
    assert_null(tu_upload_bytes(st, "org/m", "d", "x", 1, &err));
    assert_int_equal(err.status, 409);
    /* an aborted upload leaves no spool file behind */
    assert_int_equal(store_spool_begin(st, &sp, &err), 0);
    assert_int_equal(store_spool_write(sp, "partial", 7, &err), 0);
    store_spool_abort(sp);
    store_wait_idle(st);
    store_close(st);
    char spool[4200];
    snprintf(spool, sizeof spool, "%s/spool", dir);
    DIR *d = opendir(spool);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d)) != NULL)
        files += e->d_name[0] != '.' && strncmp(e->d_name, "tmp-", 4) == 0;
    closedir(d);
    assert_int_equal(files, 0);
    tu_rm_rf(dir);
    free(dir);
}

static void test_list_replace_delete(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("list");
    es_store *st = tu_open(dir, 1);
    es_err err;
    json_t *j = NULL;
    assert_int_equal(store_repo_create(st, "org/m", NULL, &j, &err), 0);
    json_decref(j);
    json_t *up1 = tu_upload_bytes(st, "org/m", "a", "one", 3, &err);
    json_t *up2 = tu_upload_bytes(st, "org/m", "b", "two!", 4, &err);
    assert_non_null(up1);
    assert_non_null(up2);
    const char *c1 = json_string_value(json_object_get(up1, "commit"));
    assert_int_equal(store_file_list(st, "org/m", NULL, &j, &err), 0);
    assert_int_equal(json_array_size(j), 2);
    json_t *a = json_array_get(j, 0);
    assert_string_equal(json_string_value(json_object_get(a, "path")), "a");
    assert_int_equal(tu_json_int(a, "size"), 3);
    assert_non_null(json_object_get(a, "state"));
    json_decref(j);
    /* the first commit lists only "a" */
    assert_int_equal(store_file_list(st, "org/m", c1, &j, &err), 0);
    assert_int_equal(json_array_size(j), 1);
    json_decref(j);
    /* replace "a": the new content is served */
    json_decref(tu_upload_bytes(st, "org/m", "a", "ONE!!", 5, &err));
    size_t len;
    uint8_t *back = tu_download(st, "org/m", "a", 2, &len, &err);
    assert_non_null(back);
    assert_int_equal(len, 5);
    assert_memory_equal(back, "ONE!!", 5);
    free(back);
    /* delete "b" */
    assert_int_equal(store_file_delete(st, "org/m", NULL, "b", &err), 0);
    assert_int_equal(store_file_delete(st, "org/m", NULL, "b", &err), -1);
    assert_int_equal(err.status, 404);
    store_file f;
    assert_int_equal(store_file_lookup(st, "org/m", NULL, "b", &f, &err), -1);
    assert_int_equal(err.status, 404);
    assert_int_equal(store_file_list(st, "org/m", NULL, &j, &err), 0);
    assert_int_equal(json_array_size(j), 1);
    json_decref(j);
    json_decref(up1);
    json_decref(up2);
    store_wait_idle(st);
    store_close(st);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrations_recorded),
        cmocka_unit_test(test_newer_database_refused),
        cmocka_unit_test(test_repo_names),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_repo_crud),
        cmocka_unit_test(test_spool_upload_and_reads),
        cmocka_unit_test(test_upload_errors),
        cmocka_unit_test(test_list_replace_delete),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
