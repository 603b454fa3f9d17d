/*
 * store_test_util.h - helpers shared by the tests/unit/server/test_store_*.c
 * programs: temporary data directories, opening a store, uploading bytes
 * or files, reading a file back through a reader.  Header-only so each
 * test stays one program.
 */
#ifndef STORE_TEST_UTIL_H
#define STORE_TEST_UTIL_H

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
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

TU_FN es_store *tu_open(const char *dir, unsigned workers)
{
    store_config cfg = {.data_dir = dir, .workers = workers, .decode_threads = 2};
    es_store *st = NULL;
    es_err err = {0, ""};
    if (store_open(&st, &cfg, &err) != 0) {
        fprintf(stderr, "store_open: %d %s\n", err.status, err.msg);
        abort();
    }
    return st;
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

#endif /* STORE_TEST_UTIL_H */
