/*
 * meta_pg_jobs.c - the job queue in PostgreSQL, shared by every elvesd on
 * the database.  Schema: migrations/0001_init.sql, 0004_leases_grace.sql.
 *
 * Leases: a claim takes the oldest queued job no other transaction is
 * claiming (FOR UPDATE SKIP LOCKED) and records lease_until; the worker
 * renews it while it works (job_renew).  A job whose lease ran out
 * belonged to a process that died, and job_requeue_expired puts it back;
 * jobs other processes are running, their leases alive, stay theirs.
 */
#include "meta_pg_internal.h"

#include <stdlib.h>
#include <string.h>

int pg_job_insert(meta_tx *tx, int64_t file_id, const char *repo,
                  const char *path, uint64_t total_bytes, int64_t created,
                  int64_t *id, es_err *err)
{
    return pg_returning(tx,
                        "INSERT INTO jobs (file_id, repo, path, state, "
                        "total_bytes, created) VALUES ($1, $2, $3, 'queued', "
                        "$4, $5) RETURNING id",
                        PG_P(PG_I(file_id), PG_T(repo), PG_T(path),
                             PG_I(total_bytes), PG_I(created)),
                        id, err);
}

int pg_job_claim(meta_tx *tx, int64_t now, int64_t lease_until,
                 int64_t *job_id, int64_t *file_id, es_err *err)
{
    PGresult *r = pg_run(tx,
                         "UPDATE jobs SET state = 'running', attempts = "
                         "attempts + 1, started = $1, lease_until = $2 WHERE "
                         "id = (SELECT id FROM jobs WHERE state = 'queued' "
                         "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) "
                         "RETURNING id, coalesce(file_id, 0)",
                         PG_P(PG_I(now), PG_I(lease_until)), err);
    if (!r)
        return -1;
    int found = PQntuples(r) > 0;
    if (found) {
        *job_id = pg_col_i64(r, 0, 0);
        *file_id = pg_col_i64(r, 0, 1); /* 0: file deleted */
    }
    PQclear(r);
    if (!found)
        return 0;
    return pg_exec(tx,
                   "UPDATE files SET state = 'compressing', error = NULL "
                   "WHERE id = $1",
                   PG_P(PG_I(*file_id)), err) < 0
               ? -1
               : 1;
}

int pg_job_requeue_expired(meta_tx *tx, int64_t now, es_err *err)
{
    return pg_ran(pg_exec(
        tx,
        "WITH back AS (UPDATE jobs SET state = 'queued', lease_until = NULL "
        "WHERE state = 'running' AND coalesce(lease_until, 0) < $1 RETURNING "
        "file_id) UPDATE files SET state = 'spooled' WHERE state = "
        "'compressing' AND id IN (SELECT file_id FROM back)",
        PG_P(PG_I(now)), err));
}

int pg_job_renew(meta_tx *tx, int64_t job_id, int64_t lease_until,
                 es_err *err)
{
    int n = pg_exec(tx,
                    "UPDATE jobs SET lease_until = $1 WHERE id = $2 AND state "
                    "= 'running'",
                    PG_P(PG_I(lease_until), PG_I(job_id)), err);
    return n < 0 ? -1 : n > 0;
}

int pg_job_finish(meta_tx *tx, int64_t job_id, int64_t file_id,
                  const char *job_state, const char *file_state,
                  const char *error, int64_t progress, int64_t now,
                  es_err *err)
{
    if (pg_exec(tx,
                "UPDATE jobs SET state = $1, error = $2, progress_bytes = $3, "
                "finished = CASE WHEN $1::text = 'queued' THEN NULL ELSE "
                "$4::bigint END WHERE id = $5",
                PG_P(PG_T(job_state), PG_T(error), PG_I(progress), PG_I(now),
                     PG_I(job_id)),
                err) < 0)
        return -1;
    return pg_ran(pg_exec(tx,
                          "UPDATE files SET state = $1, error = $2 WHERE id = $3",
                          PG_P(PG_T(file_state), PG_T(error), PG_I(file_id)),
                          err));
}

int pg_job_attempts(meta_tx *tx, int64_t job_id, int64_t *n, es_err *err)
{
    return pg_i64(tx, "SELECT attempts FROM jobs WHERE id = $1",
                  PG_P(PG_I(job_id)), n, err);
}

int pg_job_owned(meta_tx *tx, int64_t job_id, int64_t attempt, es_err *err)
{
    int64_t n = 0;
    if (pg_i64(tx,
               "SELECT count(*) FROM jobs WHERE id = $1 AND state = "
               "'running' AND attempts = $2",
               PG_P(PG_I(job_id), PG_I(attempt)), &n, err) < 0)
        return -1;
    return n > 0;
}

int pg_job_pending(meta_tx *tx, int64_t *n, es_err *err)
{
    return pg_ran(pg_i64(
        tx, "SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')",
        PG_NONE, n, err));
}

int pg_job_get(meta_tx *tx, int64_t id, meta_job *out, es_err *err)
{
    PGresult *r = pg_run(tx,
                         "SELECT id, state, coalesce(file_id, 0), repo, path, "
                         "progress_bytes, total_bytes, error FROM jobs WHERE "
                         "id = $1",
                         PG_P(PG_I(id)), err);
    if (!r)
        return -1;
    int found = PQntuples(r) > 0;
    if (found) {
        memset(out, 0, sizeof *out);
        out->id = pg_col_i64(r, 0, 0);
        pg_col_text(r, 0, 1, out->state, sizeof out->state);
        out->file_id = pg_col_i64(r, 0, 2);
        pg_col_text(r, 0, 3, out->repo, sizeof out->repo);
        pg_col_text(r, 0, 4, out->path, sizeof out->path);
        out->progress_bytes = pg_col_i64(r, 0, 5);
        out->total_bytes = pg_col_i64(r, 0, 6);
        out->has_error = !pg_col_null(r, 0, 7);
        pg_col_text(r, 0, 7, out->error, sizeof out->error);
    }
    PQclear(r);
    return found;
}

int pg_job_done(meta_tx *tx, int64_t job_id, int64_t now, es_err *err)
{
    return pg_ran(pg_exec(tx,
                          "UPDATE jobs SET state = 'done', error = NULL, "
                          "progress_bytes = total_bytes, finished = $1 WHERE "
                          "id = $2",
                          PG_P(PG_I(now), PG_I(job_id)), err));
}

int pg_job_prune(meta_tx *tx, int64_t before, int64_t *n, es_err *err)
{
    int gone = pg_exec(tx,
                       "DELETE FROM jobs WHERE state IN ('done', 'failed') AND "
                       "finished < $1",
                       PG_P(PG_I(before)), err);
    if (gone < 0)
        return -1;
    *n = gone;
    return 0;
}

int pg_job_counts(meta_tx *tx, meta_job_counts *out, es_err *err)
{
    memset(out, 0, sizeof *out);
    PGresult *r =
        pg_run(tx, "SELECT state, count(*) FROM jobs GROUP BY state", PG_NONE,
               err);
    if (!r)
        return -1;
    static const char *const states[] = {"queued", "running", "done",
                                         "failed"};
    int64_t *into[] = {&out->queued, &out->running, &out->done, &out->failed};
    for (int i = 0; i < PQntuples(r); i++)
        for (size_t k = 0; k < 4; k++)
            if (strcmp(PQgetvalue(r, i, 0), states[k]) == 0)
                *into[k] = pg_col_i64(r, i, 1);
    PQclear(r);
    return 0;
}
