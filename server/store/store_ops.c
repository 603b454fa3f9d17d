/*
 * store_ops.c - what operators ask the store: readiness (GET /readyz) and
 * job counts (GET /metrics).  Read-only, short, safe from any thread.
 */
#include "store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* "ok", or why the database does not answer or lacks a migration. */
static void check_database(es_store *st, char *db_msg, size_t dcap,
                           char *mig_msg, size_t mcap)
{
    es_err err = {0};
    meta_schema sc;
    meta_tx *tx;
    snprintf(db_msg, dcap, "ok");
    snprintf(mig_msg, mcap, "ok");
    int rc = meta_begin(st->meta, META_READ, &tx, &err);
    if (rc == 0)
        rc = meta_end(tx, meta_schema_get(tx, &sc, &err), &err);
    if (rc < 0) {
        snprintf(db_msg, dcap, "%s", err.msg[0] ? err.msg : "no answer");
        snprintf(mig_msg, mcap, "unknown (database down)");
        return;
    }
    if (sc.applied < sc.known || sc.newest != sc.known_newest)
        snprintf(mig_msg, mcap, "%lld of %lld applied (newest %lld, want %lld)",
                 (long long)sc.applied, (long long)sc.known,
                 (long long)sc.newest, (long long)sc.known_newest);
}

/* "ok" if a new file can be created (and removed) in dir. */
static void check_writable(const char *dir, char *msg, size_t cap)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/.readyz-%ld", dir, (long)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(msg, cap, "cannot create a file in %s: %s", dir,
                 strerror(errno));
        return;
    }
    close(fd);
    unlink(path);
    snprintf(msg, cap, "ok");
}

/* "ok" if the chunk store takes writes: the pack directory takes a new
 * file, or (S3) the bucket answers with these credentials. */
static void check_chunk_store(es_store *st, char *msg, size_t cap)
{
    es_err err = {0};
    if (!st->spool_remote)
        check_writable(st->packs_dir, msg, cap);
    else if (spool_remote_check(st, &err) < 0)
        snprintf(msg, cap, "object store: %s",
                 err.msg[0] ? err.msg : "no answer");
    else
        snprintf(msg, cap, "ok");
}

int store_ready(es_store *st, json_t **out, es_err *err)
{
    char dbm[300], migm[300], csm[300], spm[300];
    check_database(st, dbm, sizeof dbm, migm, sizeof migm);
    check_chunk_store(st, csm, sizeof csm);
    check_writable(st->spool_dir, spm, sizeof spm);
    int stopping = atomic_load(&st->stopping);
    int ready = !stopping && strcmp(dbm, "ok") == 0 &&
                strcmp(migm, "ok") == 0 && strcmp(csm, "ok") == 0 &&
                strcmp(spm, "ok") == 0;
    *out = json_pack("{s:b,s:{s:s,s:s,s:s,s:s}}", "ready", ready, "checks",
                     "database", dbm, "migrations", migm, "chunk_store", csm,
                     "spool", spm);
    if (*out == NULL)
        return es_errf(err, 500, "out of memory");
    if (stopping)
        json_object_set_new(*out, "stopping", json_true());
    return ready;
}

int store_jobs_count(es_store *st, store_job_counts *out, es_err *err)
{
    meta_job_counts c;
    meta_tx *tx;
    memset(out, 0, sizeof *out);
    if (meta_begin(st->meta, META_READ, &tx, err) < 0 ||
        meta_end(tx, meta_job_counts_get(tx, &c, err), err) < 0)
        return -1;
    out->queued = c.queued;
    out->running = c.running;
    out->done = c.done;
    out->failed = c.failed;
    return 0;
}
