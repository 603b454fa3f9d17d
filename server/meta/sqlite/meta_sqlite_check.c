/*
 * meta_sqlite_check.c - what meta_check.c's consistency checks and elvesd
 * fsck ask of SQLite: a count, a repair, and the containers chunks name.
 */
#include "meta_sqlite_internal.h"

int sq_check_count(meta_tx *tx, const char *sql, int64_t *out, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d, sql, err);
    if (!s)
        return -1;
    int rc = db_step_row(d, s, err);
    *out = rc == 1 ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    return rc < 0 ? -1 : 0;
}

int sq_check_repair(meta_tx *tx, const char *sql, int64_t now, int64_t *changed,
                    es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d, sql, err);
    if (!s)
        return -1;
    if (sqlite3_bind_parameter_count(s) > 0)
        db_bind_i64(s, 1, now);
    if (db_step_done(d, s, err) < 0)
        return -1;
    *changed = db_changes(d);
    return 0;
}

int sq_chunk_container_each(meta_tx *tx,
                            int (*fn)(void *ctx, uint64_t container,
                                      int64_t chunks, int64_t bytes,
                                      uint64_t end),
                            void *ctx, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s =
        db_prep(d,
                "SELECT pack, count(*), sum(length), max(\"offset\" + "
                "length) "
                "FROM chunks GROUP BY pack ORDER BY pack",
                err);
    int rc;
    if (!s)
        return -1;
    while ((rc = db_step_row(d, s, err)) == 1) {
        rc = fn(ctx, (uint64_t)sqlite3_column_int64(s, 0),
                sqlite3_column_int64(s, 1), sqlite3_column_int64(s, 2),
                (uint64_t)sqlite3_column_int64(s, 3));
        if (rc != 0)
            break;
    }
    sqlite3_reset(s);
    return rc < 0 ? -1 : rc;
}
