/*
 * spool.c - uploads: the HTTP layer streams a body into a spool file under
 * data/spool/ while its SHA-256 is computed (and, with an S3 chunk store,
 * into the bucket too: spool_remote.c); committing fsyncs and renames the
 * file, finishes its copy in the bucket, then records the file version, its
 * commit and its compression job in one transaction.
 *
 * Crash safety: a spool file is named by a row only after its bytes and its
 * name are on disk, so an acknowledged upload survives kill -9 and power
 * loss; files no row names (uploads cut short) are removed at start-up.
 */
#include "store_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct store_spool {
    es_store *st;
    int fd;
    char name[80];  /* "tmp-<hex>" while writing */
    char final[80]; /* "<hex>.spool", its name once sealed */
    int remote;     /* the bucket has a copy (spool_remote.c) */
    spool_stream *stream; /* the copy being streamed, or NULL */
    uint64_t size;
    elves_sha256_ctx *sha;
};

static void spool_free(store_spool *sp, int remove_file)
{
    spool_remote_cancel(sp->stream);
    if (sp->fd >= 0)
        close(sp->fd);
    if (remove_file && sp->remote) {
        spool_remove(sp->st, sp->name);
    } else if (remove_file) {
        char path[4096];
        store_spool_path(sp->st, sp->name, path, sizeof path);
        unlink(path);
    }
    elves_sha256_free(sp->sha);
    free(sp);
}

int store_spool_begin(es_store *st, store_spool **out, es_err *err)
{
    if (atomic_load(&st->stopping))
        return es_errf(err, 503, "shutting down");
    store_spool *sp = calloc(1, sizeof *sp);
    if (!sp)
        return es_errf(err, 500, "out of memory");
    sp->st = st;
    sp->fd = -1;
    char hex[41];
    if (es_random_hex(hex, 16, err) < 0) {
        free(sp);
        return -1;
    }
    snprintf(sp->name, sizeof sp->name, "tmp-%s", hex);
    snprintf(sp->final, sizeof sp->final, "%s.spool", hex);
    if (elves_sha256_new(&sp->sha) != 0) {
        free(sp);
        return es_errf(err, 500, "out of memory");
    }
    char path[4096];
    store_spool_path(st, sp->name, path, sizeof path);
    sp->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (sp->fd < 0) {
        es_errf(err, 500, "spool %s: %s", path, strerror(errno));
        spool_free(sp, 0);
        return -1;
    }
    *out = sp;
    return 0;
}

int store_spool_write(store_spool *sp, const void *data, size_t len,
                      es_err *err)
{
    const uint8_t *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(sp->fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return es_errf(err, errno == ENOSPC ? 507 : 500, "spool write: %s",
                           strerror(errno));
        p += n;
        left -= (size_t)n;
    }
    if (elves_sha256_update(sp->sha, data, len) != 0)
        return es_errf(err, 500, "sha256 update failed");
    sp->size += len;
    if (sp->st->spool_remote)
        return spool_remote_feed(sp->st, &sp->stream, sp->name, sp->final,
                                 sp->size, err);
    return 0;
}

void store_spool_abort(store_spool *sp)
{
    if (sp)
        spool_free(sp, 1);
}

static int sha_matches(const char *want, const char *got)
{
    if (strlen(want) != 64)
        return 0;
    for (const char *p = want; *p; p++)
        if (!isxdigit((unsigned char)*p))
            return 0;
    return strcasecmp(want, got) == 0;
}

/* fsync the data, give it its final name, fsync the directory; with an S3
 * chunk store, finish its copy in the bucket (spool_remote.c). */
static int spool_persist(store_spool *sp, char final_name[80], es_err *err)
{
    if (fsync(sp->fd) < 0)
        return es_errf(err, 500, "spool fsync: %s", strerror(errno));
    close(sp->fd);
    sp->fd = -1;
    snprintf(final_name, 80, "%s", sp->final);
    char from[4096], to[4096];
    store_spool_path(sp->st, sp->name, from, sizeof from);
    store_spool_path(sp->st, final_name, to, sizeof to);
    if (rename(from, to) < 0)
        return es_errf(err, 500, "spool rename: %s", strerror(errno));
    snprintf(sp->name, sizeof sp->name, "%s", final_name);
    int dfd = open(sp->st->spool_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) < 0) {
        if (dfd >= 0)
            close(dfd);
        return es_errf(err, 500, "spool dir fsync: %s", strerror(errno));
    }
    close(dfd);
    if (!sp->st->spool_remote)
        return 0;
    sp->remote = 1; /* a copy may be there: remove it with the file */
    spool_stream *s = sp->stream;
    sp->stream = NULL; /* consumed by the seal in every case */
    return spool_remote_seal(sp->st, s, final_name, sp->size, err);
}

typedef struct upload {
    const char *repo, *revision, *path, *spool, *sha256, *mode;
    uint64_t size;
    int64_t file_id, job_id;
    char commit[41];
} upload;

static int insert_file(meta_tx *tx, upload *u, es_err *err)
{
    meta_file_new f = {u->size, u->sha256, u->mode, u->spool, es_now()};
    return meta_file_insert(tx, &f, &u->file_id, err);
}

static int insert_job(meta_tx *tx, upload *u, es_err *err)
{
    return meta_job_insert(tx, u->file_id, u->repo, u->path, u->size,
                           es_now(), &u->job_id, err);
}

static int commit_tx(meta_tx *tx, upload *u, name_list *dead, es_err *err)
{
    int64_t repo_id;
    char mode[16];
    char message[1100];
    snprintf(message, sizeof message, "Upload %s", u->path);
    if (repo_find(tx, u->repo, &repo_id, mode, err) < 0)
        return -1;
    u->mode = mode;
    return insert_file(tx, u, err) < 0 || insert_job(tx, u, err) < 0 ||
                   repo_commit_change(tx, repo_id, u->revision, u->path,
                                      u->file_id, message, u->commit, dead,
                                      err) < 0
               ? -1
               : 0;
}

int spool_record_file(meta_tx *tx, const char *repo, const char *path,
                      const char *spool_name, const char *sha256,
                      uint64_t size, const char *mode, int64_t *file_id,
                      int64_t *job_id, es_err *err)
{
    upload u = {repo, NULL, path, spool_name, sha256, mode, size, 0, 0, ""};
    if (insert_file(tx, &u, err) < 0 || insert_job(tx, &u, err) < 0)
        return -1;
    *file_id = u.file_id;
    *job_id = u.job_id;
    return 0;
}

int spool_seal(store_spool *sp, char sha_hex[65], uint64_t *size,
               char final_name[80], es_err *err)
{
    uint8_t digest[32];
    if (elves_sha256_final(sp->sha, digest) != 0)
        return es_errf(err, 500, "sha256 final failed");
    elves_hex(sha_hex, digest, 32);
    *size = sp->size;
    return spool_persist(sp, final_name, err);
}

void spool_release(store_spool *sp, int remove_file)
{
    if (sp)
        spool_free(sp, remove_file);
}

uint64_t spool_streamed(store_spool *sp)
{
    return spool_remote_streamed(sp->stream);
}

static int record_upload(es_store *st, upload *u, es_err *err)
{
    name_list dead = NAME_LIST_INIT;
    meta_tx *tx;
    if (meta_begin(st->meta, META_WRITE, &tx, err) < 0)
        return -1;
    return repo_tx_finish(st, tx, commit_tx(tx, u, &dead, err), &dead, err);
}

static int check_upload(const char *repo, const char *path, es_err *err)
{
    if (!store_repo_name_valid(repo))
        return es_errf(err, 400, "invalid repository name");
    if (!store_path_valid(path))
        return es_errf(err, 400, "invalid path");
    return 0;
}

int store_spool_commit(es_store *st, store_spool *sp, const char *repo,
                       const char *revision, const char *path,
                       const char *expect_sha256, json_t **out, es_err *err)
{
    uint8_t digest[32];
    char hex[65];
    if (elves_sha256_final(sp->sha, digest) != 0) {
        spool_free(sp, 1);
        return es_errf(err, 500, "sha256 final failed");
    }
    elves_hex(hex, digest, 32);
    if (check_upload(repo, path, err) < 0) {
        spool_free(sp, 1);
        return -1;
    }
    if (expect_sha256 && !sha_matches(expect_sha256, hex)) {
        spool_free(sp, 1);
        return es_errf(err, 400, "sha256 mismatch: expected %.64s, got %s",
                       expect_sha256, hex);
    }
    char final_name[80];
    upload u = {repo, revision, path, final_name, hex,
                NULL, sp->size, 0,    0,          ""};
    if (spool_persist(sp, final_name, err) < 0 ||
        record_upload(st, &u, err) < 0) {
        spool_free(sp, 1);
        return -1;
    }
    spool_free(sp, 0);
    jobs_notify(st);
    *out =
        json_pack("{s:s, s:I, s:s, s:I, s:s, s:s}", "path", path, "size",
                  (json_int_t)u.size, "sha256", hex, "job_id",
                  (json_int_t)u.job_id, "commit", u.commit, "state", "spooled");
    return 0;
}
