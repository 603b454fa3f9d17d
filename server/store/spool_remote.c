/*
 * spool_remote.c - with an S3 chunk store (scale-out), spool files live in
 * the bucket too, as objects PREFIX/spool/NAME, so that an upload
 * acknowledged by one replica survives that replica's disk, and any
 * replica can compress it or serve it before it is compressed.
 *
 * The local spool file stays the working copy: the upload is written and
 * hashed into it as before, and sealed (fsync, rename); then it is copied
 * into the bucket (one PUT, or a multipart upload of SPOOL_PART parts for
 * large files), and only then is the file version recorded and the upload
 * acknowledged.  A replica that has no local copy fetches the object when
 * it runs the job (spool_remote_fetch) and reads byte ranges of it when it
 * serves the file meanwhile (spool_remote_read).  Whenever a spool file is
 * removed (its job stored the file, or the file version was deleted), the
 * object goes with it (spool_remove).
 *
 * Objects left behind by a replica that died between the copy and the
 * record are named by no row: GC removes them once older than the grace
 * time (gc.c, spool_remote_each).
 */
#include "store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "s3.h"

#define SPOOL_PART ((size_t)16 << 20) /* multipart part size */

struct spool_remote {
    s3_client *cli;
    char prefix[1100]; /* "PREFIX/spool/" */
};

int spool_remote_open(es_store *st, const char *url, const char *access_key,
                      const char *secret_key, es_err *err)
{
    s3_config cfg;
    if (s3_url_parse(&cfg, url, err) < 0)
        return -1;
    spool_remote *r = calloc(1, sizeof *r);
    int rc = r ? 0 : es_errf(err, 500, "out of memory");
    if (rc == 0)
        rc = s3_config_set_keys(&cfg, access_key ? access_key : "",
                                secret_key ? secret_key : "", err);
    if (rc == 0)
        rc = s3_client_new(&r->cli, &cfg, err);
    if (rc == 0)
        snprintf(r->prefix, sizeof r->prefix, "%s%sspool/", cfg.prefix,
                 *cfg.prefix ? "/" : "");
    s3_config_free(&cfg);
    if (rc < 0) {
        free(r);
        return -1;
    }
    st->spool_remote = r;
    return 0;
}

void spool_remote_close(es_store *st)
{
    if (!st->spool_remote)
        return;
    s3_client_free(st->spool_remote->cli);
    free(st->spool_remote);
    st->spool_remote = NULL;
}

static void object_key(const spool_remote *r, const char *name, char *key,
                       size_t cap)
{
    snprintf(key, cap, "%s%s", r->prefix, name);
}

/* Reads exactly len bytes at off of fd. */
static int read_full(int fd, uint8_t *buf, size_t len, uint64_t off,
                     es_err *err)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, buf + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return es_errf(err, 500, "spool read: %s",
                           n < 0 ? strerror(errno) : "file shorter than said");
        done += (size_t)n;
    }
    return 0;
}

static int put_multipart(spool_remote *r, const char *key, int fd,
                         uint64_t size, uint8_t *buf, es_err *err)
{
    char *upload_id = NULL;
    if (s3_multipart_create(r->cli, key, &upload_id, err) < 0)
        return -1;
    size_t nparts = (size_t)((size + SPOOL_PART - 1) / SPOOL_PART);
    s3_part *parts = calloc(nparts, sizeof *parts);
    int rc = parts ? 0 : es_errf(err, 500, "out of memory");
    for (size_t i = 0; rc == 0 && i < nparts; i++) {
        uint64_t off = (uint64_t)i * SPOOL_PART;
        size_t len = size - off < SPOOL_PART ? (size_t)(size - off)
                                             : SPOOL_PART;
        rc = read_full(fd, buf, len, off, err);
        if (rc == 0)
            rc = s3_multipart_upload_part(r->cli, key, upload_id, (int)i + 1,
                                          buf, len, &parts[i], err);
    }
    if (rc == 0)
        rc = s3_multipart_complete(r->cli, key, upload_id, parts, nparts, err);
    if (rc < 0) {
        es_err ignored;
        s3_multipart_abort(r->cli, key, upload_id, &ignored);
    }
    free(parts);
    free(upload_id);
    return rc;
}

int spool_remote_put(es_store *st, const char *name, uint64_t size,
                     es_err *err)
{
    spool_remote *r = st->spool_remote;
    char path[4096], key[1200];
    store_spool_path(st, name, path, sizeof path);
    object_key(r, name, key, sizeof key);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return es_errf(err, 500, "open spool: %s", strerror(errno));
    size_t cap = size < SPOOL_PART ? (size_t)size : SPOOL_PART;
    uint8_t *buf = malloc(cap ? cap : 1);
    int rc = buf ? 0 : es_errf(err, 500, "out of memory");
    if (rc == 0 && size <= SPOOL_PART) {
        rc = read_full(fd, buf, (size_t)size, 0, err);
        if (rc == 0)
            rc = s3_put_object(r->cli, key, buf, (size_t)size, err);
    } else if (rc == 0) {
        rc = put_multipart(r, key, fd, size, buf, err);
    }
    free(buf);
    close(fd);
    if (rc < 0)
        es_errf(err, err->status >= 500 ? 503 : err->status,
                "copying the upload into the object store: %s", err->msg);
    return rc;
}

int spool_remote_read(es_store *st, const char *name, uint64_t off,
                      size_t len, void *buf, es_err *err)
{
    char key[1200];
    object_key(st->spool_remote, name, key, sizeof key);
    return len ? s3_get_range(st->spool_remote->cli, key, off, len, buf, err)
               : 0;
}

int spool_remote_fetch(es_store *st, const char *name, uint64_t size,
                       es_err *err)
{
    char hex[33], tmp[80], path[4096], final_path[4096];
    if (es_random_hex(hex, 16, err) < 0)
        return -1;
    snprintf(tmp, sizeof tmp, "tmp-%s", hex);
    store_spool_path(st, tmp, path, sizeof path);
    store_spool_path(st, name, final_path, sizeof final_path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return es_errf(err, 500, "spool %s: %s", path, strerror(errno));
    uint8_t *buf = malloc(SPOOL_PART);
    int rc = buf ? 0 : es_errf(err, 500, "out of memory");
    for (uint64_t off = 0; rc == 0 && off < size; off += SPOOL_PART) {
        size_t len = size - off < SPOOL_PART ? (size_t)(size - off)
                                             : SPOOL_PART;
        rc = spool_remote_read(st, name, off, len, buf, err);
        if (rc == 0 && pwrite(fd, buf, len, (off_t)off) != (ssize_t)len)
            rc = es_errf(err, errno == ENOSPC ? 507 : 500, "spool write: %s",
                         strerror(errno));
    }
    free(buf);
    if (close(fd) < 0 && rc == 0)
        rc = es_errf(err, 500, "spool close: %s", strerror(errno));
    /* a crash leaves tmp-*, which start-up removes like any cut upload */
    if (rc == 0 && rename(path, final_path) < 0)
        rc = es_errf(err, 500, "spool rename: %s", strerror(errno));
    if (rc < 0)
        unlink(path);
    return rc;
}

void spool_remove(es_store *st, const char *name)
{
    char path[4096];
    store_spool_path(st, name, path, sizeof path);
    unlink(path);
    if (!st->spool_remote)
        return;
    char key[1200];
    es_err err;
    object_key(st->spool_remote, name, key, sizeof key);
    if (s3_delete_object(st->spool_remote->cli, key, &err) < 0)
        log_msg(LOG_LVL_WARN, "spool object %s stays in the bucket: %s", key,
                err.msg);
}

int spool_remote_check(es_store *st, es_err *err)
{
    return s3_head_bucket(st->spool_remote->cli, err);
}

typedef struct each_ctx {
    size_t skip; /* strlen of the "PREFIX/spool/" part of keys */
    int (*fn)(void *ctx, const char *name, int64_t mtime);
    void *ctx;
} each_ctx;

static int each_object(void *arg, const s3_object *o)
{
    each_ctx *c = arg;
    return c->fn(c->ctx, o->key + c->skip, o->mtime);
}

int spool_remote_each(es_store *st,
                      int (*fn)(void *ctx, const char *name, int64_t mtime),
                      void *ctx, es_err *err)
{
    spool_remote *r = st->spool_remote;
    each_ctx c = {strlen(r->prefix), fn, ctx};
    return s3_list(r->cli, r->prefix, each_object, &c, err);
}
