/*
 * ingest.c - one compression job (placeholder: the pipeline lands next).
 * For now a job leaves its file in the spool, where it is served from.
 */
#include "store_internal.h"

int ingest_file(es_store *st, int64_t job_id, int64_t file_id,
                _Atomic int64_t *progress, es_err *err)
{
    (void)file_id;
    (void)progress;
    if (db_tx_begin(st->db, err) < 0)
        return INGEST_FAILED;
    sqlite3_stmt *s = db_prep(st->db,
                              "UPDATE jobs SET state = 'done', finished = ? "
                              "WHERE id = ?",
                              err);
    if (!s) {
        db_tx_rollback(st->db);
        return INGEST_FAILED;
    }
    db_bind_i64(s, 1, store_now());
    db_bind_i64(s, 2, job_id);
    if (db_step_done(st->db, s, err) < 0 ||
        db_exec(st->db,
                "UPDATE files SET state = 'spooled' WHERE state = "
                "'compressing'",
                err) < 0) {
        db_tx_rollback(st->db);
        return INGEST_FAILED;
    }
    return db_tx_commit(st->db, err) < 0 ? INGEST_FAILED : INGEST_OK;
}
