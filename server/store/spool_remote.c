/*
 * spool_remote.c - with an S3 chunk store (scale-out), spool files live in
 * the bucket too, as objects PREFIX/spool/NAME, so that an upload
 * acknowledged by one replica survives that replica's disk, and any
 * replica can compress it or serve it before it is compressed.
 *
 * The local spool file stays the working copy: the upload is written and
 * hashed into it as before.  A body larger than one part (SPOOL_PART) is
 * streamed into the bucket while it arrives: once the file holds more than
 * a part, a sender thread of its own creates a multipart upload and sends
 * every full part as soon as the file holds it, read back from the file
 * (one part buffer per upload, 16 MiB); the HTTP thread that writes the
 * body waits (backpressure) while the bucket has acknowledged less than
 * all but SPOOL_AHEAD of it.  At seal (fsync, rename) the sender sends the
 * last part and completes the upload (ETags checked by s3.c); a smaller
 * body is one PUT then.  Only then is the file version recorded and the
 * upload acknowledged.  A copy that fails (503 after s3.c's retries) fails
 * the upload with 503, and an upload that ends without a seal (the client
 * went away, a bad checksum) aborts its multipart upload; in both cases
 * nothing is recorded and no part stays in the bucket.
 *
 * A replica that has no local copy fetches the object when it runs the job
 * (spool_remote_fetch) and reads byte ranges of it when it serves the file
 * meanwhile (spool_remote_read).  Whenever a spool file is removed (its
 * job stored the file, or the file version was deleted), the object goes
 * with it (spool_remove).
 *
 * Objects left behind by a replica that died between the copy and the
 * record are named by no row: GC removes them once older than the grace
 * time (gc.c, spool_remote_each); a multipart upload is no object until
 * completed, so the one of a replica killed mid-body is left to the
 * bucket's lifecycle rule (README "Scaling out").
 */
#include "store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "s3.h"

#define SPOOL_PART ((size_t)16 << 20) /* multipart part size */
/* How far the body may run ahead of what the bucket acknowledged: the part
 * in flight and two more, in the spool file (not in memory). */
#define SPOOL_AHEAD ((uint64_t)3 * SPOOL_PART)

struct spool_remote {
    s3_client *cli;
    char prefix[1100]; /* "PREFIX/spool/" */
    pthread_mutex_t mu;
    pthread_cond_t idle;
    int streams; /* sender threads still using cli */
};

/* One upload being streamed.  The HTTP thread (the owner) feeds it sizes;
 * the sender thread sends parts.  Fields below mu are shared. */
struct spool_stream {
    spool_remote *r;
    int fd; /* the spool file, read back a part at a time */
    char key[1200];
    char *upload_id;
    s3_part *parts;
    size_t nparts, cap;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t size; /* bytes in the file so far */
    uint64_t sent; /* bytes of the parts the bucket acknowledged */
    int ending;    /* size is final: send the rest and complete */
    int cancel;    /* no seal will come: abort the upload */
    int done;      /* the sender has finished (rc, err) */
    int detached;  /* the owner is gone: the sender frees the stream */
    int rc;
    es_err err;
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
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->idle, NULL);
    st->spool_remote = r;
    return 0;
}

void spool_remote_close(es_store *st)
{
    spool_remote *r = st->spool_remote;
    if (!r)
        return;
    /* cancelled streams finish their part in flight, then abort */
    pthread_mutex_lock(&r->mu);
    while (r->streams > 0)
        pthread_cond_wait(&r->idle, &r->mu);
    pthread_mutex_unlock(&r->mu);
    pthread_cond_destroy(&r->idle);
    pthread_mutex_destroy(&r->mu);
    s3_client_free(r->cli);
    free(r);
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

/* The answer of a copy that failed: 503 (the upload may be tried again)
 * unless the store refused it for good. */
static int copy_failed(const es_err *why, es_err *err)
{
    return es_errf(err, why->status >= 500 ? 503 : why->status,
                   "copying the upload into the object store: %s", why->msg);
}

/* A body of at most one part: one PUT of the sealed file. */
static int put_whole(es_store *st, const char *name, uint64_t size,
                     es_err *err)
{
    spool_remote *r = st->spool_remote;
    char path[4096], key[1200];
    store_spool_path(st, name, path, sizeof path);
    object_key(r, name, key, sizeof key);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return es_errf(err, 500, "open spool: %s", strerror(errno));
    uint8_t *buf = malloc(size ? (size_t)size : 1);
    int rc = buf ? 0 : es_errf(err, 500, "out of memory");
    if (rc == 0)
        rc = read_full(fd, buf, (size_t)size, 0, err);
    if (rc == 0)
        rc = s3_put_object(r->cli, key, buf, (size_t)size, err);
    free(buf);
    close(fd);
    return rc;
}

/* ---- streaming: the sender thread ---------------------------------------- */

/* Counts sender threads in (+1) and out (-1); close waits for none. */
static void streams_add(spool_remote *r, int delta)
{
    pthread_mutex_lock(&r->mu);
    r->streams += delta;
    if (r->streams == 0)
        pthread_cond_broadcast(&r->idle);
    pthread_mutex_unlock(&r->mu);
}

static void stream_free(spool_stream *s)
{
    if (s->fd >= 0)
        close(s->fd);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s->upload_id);
    free(s->parts);
    free(s);
}

/* Waits for the next part to send: [sent, sent + *len).  *last: no part
 * follows.  -1 once the stream is cancelled. */
static int next_part(spool_stream *s, size_t *len, int *last)
{
    pthread_mutex_lock(&s->mu);
    while (!s->cancel && !s->ending && s->size - s->sent < SPOOL_PART)
        pthread_cond_wait(&s->cv, &s->mu);
    uint64_t avail = s->size - s->sent;
    int rc = s->cancel ? -1 : 0;
    *len = avail < SPOOL_PART ? (size_t)avail : SPOOL_PART;
    *last = s->ending && avail <= SPOOL_PART;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int send_part(spool_stream *s, uint8_t *buf, size_t len, es_err *err)
{
    if (s->nparts == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        s3_part *p = realloc(s->parts, cap * sizeof *p);
        if (!p)
            return es_errf(err, 500, "out of memory");
        s->parts = p;
        s->cap = cap;
    }
    uint64_t off = s->sent; /* only this thread moves it */
    if (read_full(s->fd, buf, len, off, err) < 0 ||
        s3_multipart_upload_part(s->r->cli, s->key, s->upload_id,
                                 (int)s->nparts + 1, buf, len,
                                 &s->parts[s->nparts], err) < 0)
        return -1;
    s->nparts++;
    pthread_mutex_lock(&s->mu);
    s->sent += len;
    pthread_cond_broadcast(&s->cv); /* a writer may wait for room */
    pthread_mutex_unlock(&s->mu);
    return 0;
}

/* Sends every part as the file holds it, completes at the seal; -1 on
 * failure, -2 when cancelled. */
static int send_all(spool_stream *s, es_err *err)
{
    if (s3_multipart_create(s->r->cli, s->key, &s->upload_id, err) < 0)
        return -1;
    uint8_t *buf = malloc(SPOOL_PART);
    int rc = buf ? 0 : es_errf(err, 500, "out of memory");
    for (int last = 0; rc == 0 && !last;) {
        size_t len;
        if (next_part(s, &len, &last) < 0)
            rc = -2;
        else if (len > 0)
            rc = send_part(s, buf, len, err);
    }
    free(buf);
    if (rc == 0)
        rc = s3_multipart_complete(s->r->cli, s->key, s->upload_id, s->parts,
                                   s->nparts, err);
    return rc;
}

static void *stream_main(void *arg)
{
    spool_stream *s = arg;
    spool_remote *r = s->r;
    es_err err = {0, ""};
    int rc = send_all(s, &err);
    if (rc < 0 && s->upload_id) {
        es_err ignored;
        if (s3_multipart_abort(r->cli, s->key, s->upload_id, &ignored) < 0)
            log_msg(LOG_LVL_WARN, "multipart upload of %s stays in the "
                    "bucket: %s", s->key, ignored.msg);
    }
    /* the result is seen only now: a failed copy is already aborted */
    pthread_mutex_lock(&s->mu);
    s->rc = rc < 0 ? -1 : 0;
    s->err = err;
    s->done = 1;
    int own = s->detached;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (own)
        stream_free(s);
    streams_add(r, -1); /* the last use of r */
    return NULL;
}

/* A stream of the spool file tmp_name into the object of final_name, its
 * sender thread started. */
static int stream_start(es_store *st, spool_stream **out, const char *tmp_name,
                        const char *final_name, es_err *err)
{
    spool_remote *r = st->spool_remote;
    spool_stream *s = calloc(1, sizeof *s);
    if (!s)
        return es_errf(err, 500, "out of memory");
    char path[4096];
    store_spool_path(st, tmp_name, path, sizeof path);
    s->r = r;
    s->fd = open(path, O_RDONLY | O_CLOEXEC);
    object_key(r, final_name, s->key, sizeof s->key);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (s->fd < 0) {
        es_errf(err, 500, "open spool: %s", strerror(errno));
        stream_free(s);
        return -1;
    }
    streams_add(r, 1);
    pthread_attr_t attr;
    pthread_t th;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int e = pthread_create(&th, &attr, stream_main, s);
    pthread_attr_destroy(&attr);
    if (e != 0) {
        streams_add(r, -1);
        stream_free(s);
        return es_errf(err, 500, "spool sender thread: %s", strerror(e));
    }
    *out = s;
    return 0;
}

/* ---- streaming: the owner's side ------------------------------------------ */

int spool_remote_feed(es_store *st, spool_stream **stream,
                      const char *tmp_name, const char *final_name,
                      uint64_t size, es_err *err)
{
    spool_stream *s = *stream;
    if (!s && size <= SPOOL_PART)
        return 0; /* one PUT at the seal */
    if (!s && stream_start(st, stream, tmp_name, final_name, err) < 0)
        return -1;
    s = *stream;
    pthread_mutex_lock(&s->mu);
    s->size = size;
    pthread_cond_broadcast(&s->cv);
    while (!s->done && size - s->sent > SPOOL_AHEAD)
        pthread_cond_wait(&s->cv, &s->mu);
    int rc = s->done ? copy_failed(&s->err, err) : 0;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int spool_remote_seal(es_store *st, spool_stream *s, const char *name,
                      uint64_t size, es_err *err)
{
    es_err why;
    if (!s)
        return put_whole(st, name, size, &why) < 0 ? copy_failed(&why, err)
                                                   : 0;
    pthread_mutex_lock(&s->mu);
    s->size = size;
    s->ending = 1;
    pthread_cond_broadcast(&s->cv);
    while (!s->done)
        pthread_cond_wait(&s->cv, &s->mu);
    int rc = s->rc < 0 ? copy_failed(&s->err, err) : 0;
    pthread_mutex_unlock(&s->mu);
    stream_free(s);
    return rc;
}

void spool_remote_cancel(spool_stream *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->cancel = 1;
    s->detached = 1;
    int done = s->done;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (done)
        stream_free(s);
}

uint64_t spool_remote_streamed(spool_stream *s)
{
    if (!s)
        return 0;
    pthread_mutex_lock(&s->mu);
    uint64_t sent = s->sent;
    pthread_mutex_unlock(&s->mu);
    return sent;
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

int spool_remote_put(es_store *st, const char *name, uint64_t size,
                     es_err *err)
{
    spool_stream *s = NULL;
    if (spool_remote_feed(st, &s, name, name, size, err) < 0) {
        spool_remote_cancel(s);
        return -1;
    }
    return spool_remote_seal(st, s, name, size, err);
}
