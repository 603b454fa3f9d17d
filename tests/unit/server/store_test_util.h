/*
 * store_test_util.h - helpers shared by the tests/unit/server/test_store_*.c
 * programs: temporary data directories, opening a store (optionally with
 * a wrapped chunk store), uploading bytes or files, reading a file back
 * through a reader and comparing it, and checks on the database behind the
 * store (reference counts).  The store's database is SQLite in its data
 * directory, or a fresh PostgreSQL schema when ELVES_TEST_DATABASE is set
 * (test_db.h).  Header-only so each test stays one program;
 * the tu_expect_* and tu_check_* helpers fail the cmocka test.
 */
#ifndef STORE_TEST_UTIL_H
#define STORE_TEST_UTIL_H

#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "store.h"
#include "test_db.h"
#include "test_files.h"

/* Not every test uses every helper. */
#define TU_FN static __attribute__((unused))

TU_FN void tu_rm_rf(const char *path)
{
    struct stat stt;
    if (lstat(path, &stt) < 0)
        return;
    if (S_ISDIR(stt.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char sub[4096];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            tu_rm_rf(sub);
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* Entries of dir/sub that do not start with '.' (0 if it is missing). */
TU_FN int tu_count_dir(const char *dir, const char *sub)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    DIR *d = opendir(path);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

/* Seconds on the monotonic clock, for waits with a deadline. */
TU_FN double tu_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A fresh directory under ELVES_TEST_TMP; caller frees. */
TU_FN char *tu_tmpdir(const char *tag)
{
    char *path = malloc(4096);
    mkdir(ELVES_TEST_TMP, 0755);
    snprintf(path, 4096, "%s/%s-XXXXXX", ELVES_TEST_TMP, tag);
    if (!mkdtemp(path)) {
        perror("mkdtemp");
        abort();
    }
    return path;
}

/* Opens the store cfg describes (decode_threads 2 if unset; the database
 * of its data directory, test_db.h, if unset). */
TU_FN es_store *tu_open_config(const store_config *cfg)
{
    store_config c = *cfg;
    if (!c.decode_threads)
        c.decode_threads = 2;
    if (!c.database)
        c.database = tdb_database(c.data_dir);
    es_store *st = NULL;
    es_err err = {0, ""};
    if (store_open(&st, &c, &err) != 0) {
        fprintf(stderr, "store_open: %d %s\n", err.status, err.msg);
        abort();
    }
    return st;
}

TU_FN es_store *tu_open(const char *dir, unsigned workers)
{
    store_config cfg = {.data_dir = dir, .workers = workers};
    return tu_open_config(&cfg);
}

/* Uploads len bytes; returns the response (caller decrefs) or NULL, with
 * err filled. */
TU_FN json_t *tu_upload_bytes(es_store *st, const char *repo, const char *path,
                              const void *data, size_t len, es_err *err)
{
    store_spool *sp;
    if (store_spool_begin(st, &sp, err) != 0)
        return NULL;
    const uint8_t *p = data;
    for (size_t off = 0; off < len;) {
        size_t n = len - off < 100000 ? len - off : 100000;
        if (store_spool_write(sp, p + off, n, err) != 0) {
            store_spool_abort(sp);
            return NULL;
        }
        off += n;
    }
    json_t *out = NULL;
    if (store_spool_commit(st, sp, repo, NULL, path, NULL, &out, err) != 0)
        return NULL;
    return out;
}

/* Reads a whole file version through a reader, in steps of `step` bytes. */
TU_FN uint8_t *tu_download(es_store *st, const char *repo, const char *path,
                           size_t step, size_t *len, es_err *err)
{
    store_file f;
    store_reader *r;
    if (store_file_lookup(st, repo, NULL, path, &f, err) != 0 ||
        store_reader_open(st, &f, &r, err) != 0)
        return NULL;
    uint8_t *buf = malloc(f.size ? f.size : 1);
    uint64_t off = 0;
    for (;;) {
        size_t got = 0;
        size_t want = f.size - off < step ? (size_t)(f.size - off) : step;
        if (store_reader_read(r, off, buf + off, want ? want : 1, &got, err) !=
            0) {
            free(buf);
            store_reader_close(r);
            return NULL;
        }
        if (got == 0)
            break;
        off += got;
    }
    store_reader_close(r);
    *len = (size_t)off;
    return buf;
}

TU_FN void tu_sha_hex(char out[65], const void *data, size_t len)
{
    uint8_t d[32];
    elves_sha256(d, data, len);
    elves_hex(out, d, 32);
}

TU_FN int64_t tu_json_int(json_t *obj, const char *key)
{
    return (int64_t)json_integer_value(json_object_get(obj, key));
}

TU_FN int64_t tu_stat(es_store *st, const char *key)
{
    json_t *s = NULL;
    es_err err;
    if (store_stats(st, NULL, &s, &err) != 0) {
        fprintf(stderr, "store_stats: %s\n", err.msg);
        abort();
    }
    int64_t v = tu_json_int(s, key);
    json_decref(s);
    return v;
}

TU_FN void tu_make_repo(es_store *st, const char *name, const char *mode)
{
    es_err err;
    json_t *j = NULL;
    if (store_repo_create(st, name, mode, &j, &err) != 0)
        fail_msg("repo %s: %s", name, err.msg);
    json_decref(j);
}

/* Uploads len bytes to repo/path on main; the job's id. */
TU_FN int64_t tu_upload(es_store *st, const char *repo, const char *path,
                        const uint8_t *data, size_t len)
{
    es_err err;
    json_t *j = tu_upload_bytes(st, repo, path, data, len, &err);
    if (!j)
        fail_msg("upload %s/%s: %s", repo, path, err.msg);
    int64_t job_id = tu_json_int(j, "job_id");
    json_decref(j);
    return job_id;
}

TU_FN void tu_expect_state(es_store *st, const char *repo, const char *path,
                           const char *state)
{
    store_file f;
    es_err err;
    if (store_file_lookup(st, repo, NULL, path, &f, &err) != 0)
        fail_msg("lookup %s/%s: %s", repo, path, err.msg);
    if (strcmp(f.state, state) != 0) {
        json_t *list = NULL;
        store_file_list(st, repo, NULL, &list, &err);
        char *s = json_dumps(list, 0);
        fail_msg("%s/%s is %s, want %s: %s", repo, path, f.state, state, s);
    }
}

/* repo/path reads back through a reader as exactly (data, len): same size,
 * same SHA-256. */
TU_FN void tu_expect_content(es_store *st, const char *repo, const char *path,
                             const uint8_t *data, size_t len)
{
    es_err err;
    size_t got = 0;
    uint8_t *back = tu_download(st, repo, path, 200000, &got, &err);
    if (!back)
        fail_msg("download %s/%s: %s", repo, path, err.msg);
    assert_int_equal(got, len);
    char a[65], b[65];
    tu_sha_hex(a, back, got);
    tu_sha_hex(b, data, len);
    if (strcmp(a, b) != 0)
        fail_msg("%s/%s reads back as sha256 %s, uploaded %s", repo, path, a,
                 b);
    free(back);
}

TU_FN void tu_gc(es_store *st)
{
    json_t *rep = NULL;
    es_err err;
    if (store_gc(st, &rep, &err) != 0)
        fail_msg("gc: %s", err.msg);
    json_decref(rep);
}

/* Reference counts equal the rows that make them, and nothing live points
 * at anything dead. */
TU_FN void tu_check_refcounts(const char *dir)
{
    tdb *db = tdb_open(dir);
    assert_int_equal(tdb_q1(db, "SELECT count(*) FROM chunks c WHERE refcount "
                               "!= (SELECT count(*) FROM file_blocks b WHERE "
                               "b.chunk_id = c.id)"),
                     0);
    assert_int_equal(tdb_q1(db, "SELECT count(*) FROM tensors t WHERE refcount "
                               "!= (SELECT count(*) FROM file_segments s WHERE "
                               "s.tensor_id = t.id)"),
                     0);
    assert_int_equal(tdb_q1(db, "SELECT count(*) FROM tensors t JOIN "
                               "tensor_blocks tb ON tb.tensor_id = t.id JOIN "
                               "chunks c ON c.id = tb.chunk_id WHERE "
                               "t.refcount > 0 AND c.refcount = 0"),
                     0);
    assert_int_equal(tdb_q1(db, "SELECT count(*) FROM packs p WHERE live_bytes "
                               "!= (SELECT coalesce(sum(length), 0) FROM "
                               "chunks c WHERE c.pack = p.id)"),
                     0);
    if (db->sq) /* PostgreSQL checks its foreign keys at every statement */
        assert_int_equal(
            tdb_q1(db, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
    tdb_close(db);
}

/* ---- generated checkpoints ------------------------------------------ */

static uint32_t tu_rng_state __attribute__((unused)) = 12345;

TU_FN uint32_t tu_rnd(void)
{
    tu_rng_state ^= tu_rng_state << 13;
    tu_rng_state ^= tu_rng_state >> 17;
    tu_rng_state ^= tu_rng_state << 5;
    return tu_rng_state;
}

/* F32 values in (-1, 1) that look like trained weights. */
TU_FN void tu_fill_weights(uint8_t *p, size_t count, uint32_t seed)
{
    tu_rng_state = seed * 747796405u + 1;
    for (size_t i = 0; i < count; i++) {
        float v = ((float)(tu_rnd() % 2000000) / 1000000.0f - 1.0f) * 0.1f;
        memcpy(p + 4 * i, &v, 4);
    }
}

typedef struct tu_tensor {
    const char *name;
    size_t count; /* F32 values */
    uint32_t seed;
} tu_tensor;

/* A safetensors file of F32 tensors; *len receives its size. */
TU_FN uint8_t *tu_make_safetensors(const tu_tensor *t, size_t n, size_t *len)
{
    char header[4096];
    size_t off = 0, pos = 0;
    pos += (size_t)snprintf(header + pos, sizeof header - pos, "{");
    for (size_t i = 0; i < n; i++) {
        size_t bytes = t[i].count * 4;
        pos += (size_t)snprintf(header + pos, sizeof header - pos,
                                "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%zu],"
                                "\"data_offsets\":[%zu,%zu]}",
                                i ? "," : "", t[i].name, t[i].count, off,
                                off + bytes);
        off += bytes;
    }
    pos += (size_t)snprintf(header + pos, sizeof header - pos, "}");
    while (pos % 8)
        header[pos++] = ' ';
    *len = 8 + pos + off;
    uint8_t *buf = malloc(*len);
    uint64_t hl = pos;
    memcpy(buf, &hl, 8);
    memcpy(buf + 8, header, pos);
    size_t at = 8 + pos;
    for (size_t i = 0; i < n; i++) {
        tu_fill_weights(buf + at, t[i].count, t[i].seed);
        at += t[i].count * 4;
    }
    return buf;
}

#endif /* STORE_TEST_UTIL_H */
