/*
 * chunkstore.h - where encoded blocks ("chunks") live, behind a small
 * vtable so the local pack files (chunkstore_fs.c) and an S3-compatible
 * object store can be swapped by configuration.
 *
 * A chunk is an opaque byte string (one encoded block).  put() returns a
 * location that the metadata database records; get() checks the chunk's
 * checksum on every read, so a damaged chunk is an error, never wrong
 * bytes (fetch() leaves that check to callers that make their own).
 * Nothing put is durable until sync() returns: callers sync before
 * the transaction that references the chunks commits.
 *
 * Locations: `container` names a pack file (local) or an object (S3, where
 * a container holds one or more chunks); `offset` is where the chunk's
 * record starts in it.  The metadata keeps them in chunks.pack/offset.
 */
#ifndef ELVESD_CHUNKSTORE_H
#define ELVESD_CHUNKSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "metrics.h"

typedef struct chunk_loc {
    uint64_t container;
    uint64_t offset;
    uint32_t length;   /* chunk bytes (without the store's own record) */
    uint64_t checksum; /* XXH3-64 of the chunk bytes */
} chunk_loc;

/* One container as iterate() reports it. */
typedef struct chunk_container {
    uint64_t id;
    uint64_t bytes; /* on disk, records included */
    int open;       /* still being appended to: never compact or drop */
    int64_t mtime;  /* unix seconds it was last written (sealed), 0 unknown */
} chunk_container;

/* Bumped whenever chunkstore_ops changes shape; chunkstore_open refuses a
 * backend built against another version. */
#define CHUNKSTORE_OPS_VERSION 1

/* A backend fills one of these, statically; `be` is its own state. */
typedef struct chunkstore_ops {
    unsigned version; /* CHUNKSTORE_OPS_VERSION */
    const char *name;
    /* Appends a chunk; *out receives where it went. */
    int (*put)(void *be, const void *data, size_t len, chunk_loc *out,
               es_err *err);
    /* Copies bytes [off, off+len) of the chunk at loc into buf after
     * checking the whole chunk's checksum.  404 if the container is gone
     * (moved by compaction), 500 if corrupt. */
    int (*get)(void *be, const chunk_loc *loc, uint64_t off, size_t len,
               void *buf, es_err *err);
    /* Copies the whole chunk at loc into buf (loc->length bytes), checking
     * that the stored record is the one loc names (length and checksum
     * fields) but not hashing the bytes: for callers that check the bytes
     * themselves.  The download path does: every chunk it reads is an ELVES
     * block, whose decoder verifies a checksum of the decoded bytes, so a
     * damaged chunk still fails; hashing it here too cost about a tenth of
     * a download's CPU.  Same errors as get().  NULL: get() is used. */
    int (*fetch)(void *be, const chunk_loc *loc, void *buf, es_err *err);
    /* Forgets a chunk.  Append-only backends only account for it; space
     * returns when its container is dropped.  A chunk already deleted is
     * no error: GC deletes again what a failed collection may have
     * deleted before it stopped (store/gc.c). */
    int (*del)(void *be, const chunk_loc *loc, es_err *err);
    /* Calls fn for every container, in id order; fn returning non-zero
     * stops the walk with that value. */
    int (*iterate)(void *be, int (*fn)(void *ctx, const chunk_container *c),
                   void *ctx, es_err *err);
    /* Removes a whole container (after compaction moved its live chunks). */
    int (*drop)(void *be, uint64_t container, es_err *err);
    /* Makes every chunk put so far durable. */
    int (*sync)(void *be, es_err *err);
    void (*close)(void *be);
} chunkstore_ops;

typedef struct chunkstore {
    const chunkstore_ops *ops;
    void *be;
} chunkstore;

static inline int chunkstore_put(chunkstore *cs, const void *data, size_t len,
                                 chunk_loc *out, es_err *err)
{
    int rc = cs->ops->put(cs->be, data, len, out, err);
    if (rc != 0)
        metrics_chunkstore_error("put");
    return rc;
}

static inline int chunkstore_get(chunkstore *cs, const chunk_loc *loc,
                                 uint64_t off, size_t len, void *buf,
                                 es_err *err)
{
    int rc = cs->ops->get(cs->be, loc, off, len, buf, err);
    if (rc != 0 && err->status != 404) /* 404: moved by compaction, retried */
        metrics_chunkstore_error("get");
    return rc;
}

static inline int chunkstore_fetch(chunkstore *cs, const chunk_loc *loc,
                                   void *buf, es_err *err)
{
    if (cs->ops->fetch == NULL)
        return chunkstore_get(cs, loc, 0, loc->length, buf, err);
    int rc = cs->ops->fetch(cs->be, loc, buf, err);
    if (rc != 0 && err->status != 404)
        metrics_chunkstore_error("get");
    return rc;
}

static inline int chunkstore_del(chunkstore *cs, const chunk_loc *loc,
                                 es_err *err)
{
    return cs->ops->del(cs->be, loc, err);
}

static inline int chunkstore_iterate(chunkstore *cs,
                                     int (*fn)(void *ctx,
                                               const chunk_container *c),
                                     void *ctx, es_err *err)
{
    return cs->ops->iterate(cs->be, fn, ctx, err);
}

static inline int chunkstore_drop(chunkstore *cs, uint64_t container,
                                  es_err *err)
{
    return cs->ops->drop(cs->be, container, err);
}

static inline int chunkstore_sync(chunkstore *cs, es_err *err)
{
    int rc = cs->ops->sync(cs->be, err);
    if (rc != 0)
        metrics_chunkstore_error("sync");
    return rc;
}

static inline void chunkstore_close(chunkstore *cs)
{
    if (cs && cs->ops)
        cs->ops->close(cs->be);
}

/* What chunkstore_open needs to know. */
typedef struct chunkstore_config {
    const char *backend; /* "fs" or "s3" (NULL means "fs") */
    const char *dir;     /* fs: the pack directory, created if missing */
    uint64_t pack_max;   /* roll packs over at this size (0: fs 1 GiB,
                            s3 64 MiB) */
    /* s3: "s3://BUCKET/PREFIX?endpoint=URL&region=R&path_style=1"
     * (s3.h: s3_url_parse) and the credentials */
    const char *s3_url;
    const char *s3_access_key, *s3_secret_key;
    uint64_t part_size; /* s3: multipart part size (0 = 8 MiB, >= 5 MiB) */
} chunkstore_config;

/* Opens the backend cfg names.  400 for an unknown backend, 500 for one
 * whose ops table has another version. */
int chunkstore_open(chunkstore *out, const chunkstore_config *cfg,
                    es_err *err);

/* The local backend: append-only pack files in dir (created if missing).
 * Packs roll over at pack_max bytes (0 = 1 GiB).  Every open starts a new
 * pack, so a pack torn by a crash is never appended to. */
int chunkstore_fs_open(chunkstore *out, const char *dir, uint64_t pack_max,
                       es_err *err);

/* The S3 backend (chunkstore_s3.c): packs of chunks as objects
 * PREFIX/packs/<16 hex id> in cfg's bucket, built in memory and sent as
 * multipart parts of part_size (0 = 8 MiB; at least 5 MiB) while they
 * grow, completed at sync() or once they reach pack_max (0 = 64 MiB).
 * The open pack (up to pack_max bytes) lives in memory until complete.
 * Checks the bucket first: 403 for credentials S3 refuses, 404 for a
 * missing bucket, 503 for an endpoint that does not answer. */
struct s3_config;
int chunkstore_s3_open(chunkstore *out, const struct s3_config *cfg,
                       uint64_t pack_max, uint64_t part_size, es_err *err);

#endif /* ELVESD_CHUNKSTORE_H */
