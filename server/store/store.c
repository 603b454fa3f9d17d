/*
 * store.c - opening and closing the store (data directory, database, chunk
 * store: local packs or an S3 bucket, worker pool).
 *
 * Start-up order matters for crash safety: migrate, requeue the jobs a
 * crash left running, delete spool files no row names (unacknowledged
 * uploads), collect unreferenced chunks, and only then start the workers.
 */
#include "store_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_CACHE_BYTES ((size_t)64 << 20)
#define DEFAULT_COMPACT_BELOW 0.5

/* ---- open / close -------------------------------------------------------- */

static int make_dir(const char *path, es_err *err)
{
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        return es_errf(err, 500, "mkdir %s: %s", path, strerror(errno));
    return 0;
}

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s/%s", a, b);
    return s;
}

static unsigned cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

static int apply_config(es_store *st, const store_config *cfg, es_err *err)
{
    const char *dir = cfg->data_dir && *cfg->data_dir ? cfg->data_dir : "data";
    st->data_dir = strdup(dir);
    st->spool_dir = join(dir, "spool");
    st->packs_dir = join(dir, "packs");
    if (!st->data_dir || !st->spool_dir || !st->packs_dir)
        return es_errf(err, 500, "out of memory");
    st->workers = cfg->workers ? cfg->workers : cores();
    st->decode_threads = cfg->decode_threads ? cfg->decode_threads : cores();
    st->cache_bytes = cfg->cache_bytes ? cfg->cache_bytes : DEFAULT_CACHE_BYTES;
    st->compact_below =
        cfg->compact_below > 0 ? cfg->compact_below : DEFAULT_COMPACT_BELOW;
    st->shared = cfg->database && *cfg->database;
    st->job_lease_s = cfg->job_lease_s > 0 ? cfg->job_lease_s : 60;
    st->gc_grace_s = cfg->gc_grace_s > 0 ? cfg->gc_grace_s : 0;
    if (cfg->database && *cfg->database &&
        !(st->database = strdup(cfg->database)))
        return es_errf(err, 500, "out of memory");
    st->wrap_chunks = cfg->wrap_chunks;
    st->wrap_meta = cfg->wrap_meta;
    st->wrap_meta_ctx = cfg->wrap_meta_ctx;
    st->wrap_ctx = cfg->wrap_ctx;
    return 0;
}

static int open_chunks(es_store *st, const store_config *cfg, es_err *err)
{
    chunkstore_config cc = {.backend = "fs", .dir = st->packs_dir};
    if (cfg->chunk_store && *cfg->chunk_store) {
        if (strncmp(cfg->chunk_store, "s3://", 5) != 0)
            return es_errf(err, 400,
                           "chunk store '%.100s' is not an s3:// "
                           "URL",
                           cfg->chunk_store);
        cc.backend = "s3";
        cc.s3_url = cfg->chunk_store;
        cc.s3_access_key = cfg->s3_access_key;
        cc.s3_secret_key = cfg->s3_secret_key;
    }
    if (chunkstore_open(&st->cs, &cc, err) < 0)
        return -1;
    if (st->wrap_chunks && st->wrap_chunks(&st->cs, st->wrap_ctx, err) < 0)
        return -1;
    if (cc.s3_url && spool_remote_open(st, cc.s3_url, cc.s3_access_key,
                                       cc.s3_secret_key, err) < 0)
        return -1;
    return 0;
}

/* The SQLite file in the data directory, or the database named by URL. */
static int open_meta(es_store *st, es_err *err)
{
    if (st->database) {
        meta_config mc = {.backend = "postgres", .url = st->database};
        return meta_open(&st->meta, &mc, err);
    }
    char *db_path = join(st->data_dir, "elves.db");
    if (!db_path)
        return es_errf(err, 500, "out of memory");
    meta_config mc = {.backend = "sqlite", .path = db_path};
    int rc = meta_open(&st->meta, &mc, err);
    free(db_path);
    return rc;
}

/* One process per data directory: an exclusive flock on data_dir/lock,
 * which names the holder's pid.  The kernel drops it when the process
 * ends, however it ends, so a crash never leaves a stale lock.  Opens that
 * only read (no_workers: fsck, migrate's read-back) take none. */
static int lock_data_dir(es_store *st, es_err *err)
{
    char *path = join(st->data_dir, "lock");
    if (!path)
        return es_errf(err, 500, "out of memory");
    st->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    free(path);
    if (st->lock_fd < 0)
        return es_errf(err, 500, "cannot open %s/lock: %s", st->data_dir,
                       strerror(errno));
    if (flock(st->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        char pid[32] = "";
        ssize_t n = pread(st->lock_fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        return es_errf(err, 409,
                       errno == EWOULDBLOCK
                           ? "%s is in use by another elvesd (pid %s): one "
                             "process per data directory"
                           : "cannot lock %s: %s",
                       st->data_dir,
                       errno == EWOULDBLOCK ? (pid[0] ? pid : "?")
                                            : strerror(errno));
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(st->lock_fd, 0) < 0 ||
        pwrite(st->lock_fd, pid, (size_t)len, 0) != len)
        return es_errf(err, 500, "cannot write %s/lock: %s", st->data_dir,
                       strerror(errno));
    return 0;
}

static int open_parts(es_store *st, const store_config *cfg, es_err *err)
{
    if (make_dir(st->data_dir, err) < 0 ||
        (!cfg->no_workers && lock_data_dir(st, err) < 0) ||
        make_dir(st->spool_dir, err) < 0 || make_dir(st->packs_dir, err) < 0)
        return -1;
    if (open_meta(st, err) < 0)
        return -1;
    if (st->wrap_meta && st->wrap_meta(&st->meta, st->wrap_meta_ctx, err) < 0)
        return -1;
    return open_chunks(st, cfg, err);
}

/* Crash recovery, before any worker runs. */
static int recover(es_store *st, es_err *err)
{
    if (jobs_requeue_running(st, err) < 0 || gc_orphan_spools(st, err) < 0)
        return -1;
    json_t *report = NULL;
    if (store_gc(st, &report, err) < 0)
        return -1;
    json_decref(report);
    return 0;
}

int store_open(es_store **out, const store_config *cfg, es_err *err)
{
    es_store *st = calloc(1, sizeof *st);
    if (!st)
        return es_errf(err, 500, "out of memory");
    st->lock_fd = -1;
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    /* Writer preference: a stream of jobs must not starve GC forever. */
    pthread_rwlockattr_setkind_np(&attr,
                                  PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&st->gc_lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    pthread_mutex_init(&st->gc_mu, NULL);
    if (apply_config(st, cfg, err) < 0 || open_parts(st, cfg, err) < 0 ||
        (!cfg->no_workers && recover(st, err) < 0) ||
        reader_init(st, err) < 0 || base_init(st, err) < 0 ||
        (!cfg->no_workers && jobs_start(st, err) < 0)) {
        store_close(st);
        return -1;
    }
    *out = st;
    return 0;
}

void store_close(es_store *st)
{
    if (!st)
        return;
    atomic_store(&st->stopping, 1);
    jobs_stop(st);
    base_shutdown(st);
    reader_shutdown(st);
    chunkstore_close(&st->cs);
    spool_remote_close(st);
    meta_close(st->meta);
    if (st->lock_fd >= 0)
        close(st->lock_fd); /* and with it the lock */
    pthread_rwlock_destroy(&st->gc_lock);
    pthread_mutex_destroy(&st->gc_mu);
    free(st->data_dir);
    free(st->database);
    free(st->spool_dir);
    free(st->packs_dir);
    free(st);
}
