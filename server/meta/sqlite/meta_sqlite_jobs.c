/*
 * meta_sqlite_jobs.c - the job queue and the chunk lookups of reads, in
 * SQLite.  Schema: migrations/0001_init.sql (jobs, chunks).
 *
 * Leases: one process owns every job of a SQLite database, so a lease
 * lasts as long as the process, not until lease_until (which is recorded
 * all the same); job_requeue_expired requeues every running job, which is
 * right at open and only then.
 */
#include "meta_sqlite_internal.h"

#include <stdlib.h>
#include <string.h>

int sq_job_claim(meta_tx *tx, int64_t now, int64_t lease_until, int64_t *job_id,
                 int64_t *file_id, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "SELECT id, file_id FROM jobs WHERE state = "
                              "'queued' ORDER BY id LIMIT 1",
                              err);
    if (!s)
        return -1;
    int rc = db_step_row(d, s, err);
    if (rc == 1) {
        *job_id = sqlite3_column_int64(s, 0);
        *file_id = sqlite3_column_int64(s, 1); /* 0 if NULL: file deleted */
    }
    sqlite3_reset(s);
    if (rc <= 0)
        return rc;
    s = db_prep(d,
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, "
                "started = ?, lease_until = ? WHERE id = ?",
                err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, now);
    db_bind_i64(s, 2, lease_until);
    db_bind_i64(s, 3, *job_id);
    if (db_step_done(d, s, err) < 0)
        return -1;
    s = db_prep(d,
                "UPDATE files SET state = 'compressing', error = NULL "
                "WHERE id = ?",
                err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, *file_id);
    return db_step_done(d, s, err) < 0 ? -1 : 1;
}

int sq_job_requeue_expired(meta_tx *tx, int64_t now, es_err *err)
{
    (void)now;
    return db_exec(sq_db(tx),
                   "UPDATE jobs SET state = 'queued' WHERE state = 'running';"
                   "UPDATE files SET state = 'spooled' "
                   " WHERE state = 'compressing';",
                   err);
}

int sq_job_renew(meta_tx *tx, int64_t job_id, int64_t lease_until,
                 es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "UPDATE jobs SET lease_until = ? WHERE id = ? "
                              "AND state = 'running'",
                              err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, lease_until);
    db_bind_i64(s, 2, job_id);
    if (db_step_done(d, s, err) < 0)
        return -1;
    return db_changes(d) > 0 ? 1 : 0;
}

int sq_job_finish(meta_tx *tx, int64_t job_id, int64_t file_id,
                  const char *job_state, const char *file_state,
                  const char *error, int64_t progress, int64_t now, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "UPDATE jobs SET state = ?, error = ?, "
                              "progress_bytes = ?, finished = CASE WHEN ? = "
                              "'queued' THEN NULL ELSE ? END WHERE id = ?",
                              err);
    if (!s)
        return -1;
    db_bind_text(s, 1, job_state);
    db_bind_text(s, 2, error);
    db_bind_i64(s, 3, progress);
    db_bind_text(s, 4, job_state);
    db_bind_i64(s, 5, now);
    db_bind_i64(s, 6, job_id);
    if (db_step_done(d, s, err) < 0)
        return -1;
    s = db_prep(d, "UPDATE files SET state = ?, error = ? WHERE id = ?", err);
    if (!s)
        return -1;
    db_bind_text(s, 1, file_state);
    db_bind_text(s, 2, error);
    db_bind_i64(s, 3, file_id);
    return db_step_done(d, s, err);
}

int sq_job_attempts(meta_tx *tx, int64_t job_id, int64_t *n, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d, "SELECT attempts FROM jobs WHERE id = ?", err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, job_id);
    int rc = db_step_row(d, s, err);
    if (rc == 1)
        *n = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return rc;
}

int sq_job_owned(meta_tx *tx, int64_t job_id, int64_t attempt, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "SELECT 1 FROM jobs WHERE id = ? AND state = "
                              "'running' AND attempts = ?",
                              err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, job_id);
    db_bind_i64(s, 2, attempt);
    int rc = db_step_row(d, s, err);
    sqlite3_reset(s);
    return rc;
}

int sq_job_pending(meta_tx *tx, int64_t *n, es_err *err)
{
    return db_query_i64(sq_db(tx),
                        "SELECT count(*) FROM jobs WHERE state IN ('queued', "
                        "'running')",
                        n, err) < 0
               ? -1
               : 0;
}

int sq_job_get(meta_tx *tx, int64_t id, meta_job *out, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "SELECT id, state, coalesce(file_id, 0), repo, "
                              "path, progress_bytes, total_bytes, error FROM "
                              "jobs WHERE id = ?",
                              err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, id);
    int rc = db_step_row(d, s, err);
    if (rc == 1) {
        memset(out, 0, sizeof *out);
        out->id = sqlite3_column_int64(s, 0);
        db_col_text(s, 1, out->state, sizeof out->state);
        out->file_id = sqlite3_column_int64(s, 2);
        db_col_text(s, 3, out->repo, sizeof out->repo);
        db_col_text(s, 4, out->path, sizeof out->path);
        out->progress_bytes = sqlite3_column_int64(s, 5);
        out->total_bytes = sqlite3_column_int64(s, 6);
        out->has_error = sqlite3_column_type(s, 7) != SQLITE_NULL;
        db_col_text(s, 7, out->error, sizeof out->error);
    }
    sqlite3_reset(s);
    return rc;
}

int sq_chunk_get(meta_tx *tx, int64_t chunk_id, meta_chunk *out, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "SELECT pack, offset, length, checksum FROM "
                              "chunks WHERE id = ?",
                              err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, chunk_id);
    int rc = db_step_row(d, s, err);
    if (rc == 1) {
        out->id = chunk_id;
        out->container = (uint64_t)sqlite3_column_int64(s, 0);
        out->offset = (uint64_t)sqlite3_column_int64(s, 1);
        out->length = (uint32_t)sqlite3_column_int64(s, 2);
        out->checksum = (uint64_t)sqlite3_column_int64(s, 3);
    }
    sqlite3_reset(s);
    return rc;
}
