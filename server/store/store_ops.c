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
    int64_t one = 0, applied = 0, newest = 0;
    snprintf(db_msg, dcap, "ok");
    snprintf(mig_msg, mcap, "ok");
    db_lock(st->db);
    int rc = db_query_i64(st->db, "SELECT 1", &one, &err);
    if (rc == 0)
        rc = db_query_i64(st->db, "SELECT count(*) FROM schema_migrations",
                          &applied, &err);
    if (rc == 0)
        rc = db_query_i64(
            st->db, "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &newest, &err);
    db_unlock(st->db);
    if (rc < 0 || one != 1) {
        snprintf(db_msg, dcap, "%s", err.msg[0] ? err.msg : "no answer");
        snprintf(mig_msg, mcap, "unknown (database down)");
        return;
    }
    int want = db_migrations_count
                   ? db_migrations[db_migrations_count - 1].version
                   : 0;
    if (applied < (int64_t)db_migrations_count || newest != want)
        snprintf(mig_msg, mcap, "%lld of %u applied (newest %lld, want %d)",
                 (long long)applied, db_migrations_count, (long long)newest,
                 want);
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

int store_ready(es_store *st, json_t **out, es_err *err)
{
    char dbm[300], migm[300], csm[300], spm[300];
    check_database(st, dbm, sizeof dbm, migm, sizeof migm);
    check_writable(st->packs_dir, csm, sizeof csm);
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
    memset(out, 0, sizeof *out);
    db_lock(st->db);
    sqlite3_stmt *s = db_prep(
        st->db, "SELECT state, count(*) FROM jobs GROUP BY state", err);
    int rc = s ? 0 : -1;
    while (s && (rc = db_step_row(st->db, s, err)) == 1) {
        const char *state = (const char *)sqlite3_column_text(s, 0);
        int64_t n = sqlite3_column_int64(s, 1);
        if (state == NULL)
            continue;
        if (strcmp(state, "queued") == 0)
            out->queued = n;
        else if (strcmp(state, "running") == 0)
            out->running = n;
        else if (strcmp(state, "done") == 0)
            out->done = n;
        else if (strcmp(state, "failed") == 0)
            out->failed = n;
    }
    if (s)
        sqlite3_reset(s);
    db_unlock(st->db);
    return rc < 0 ? -1 : 0;
}
