/*
 * meta_pg_check.c - what meta_check.c's consistency checks and elvesd
 * fsck ask of PostgreSQL: a count, a repair, and the containers chunks
 * name.
 */
#include "meta_pg_internal.h"

#include <string.h>

int pg_check_count(meta_tx *tx, const char *sql, int64_t *out, es_err *err)
{
    return pg_ran(pg_i64(tx, sql, PG_NONE, out, err));
}

int pg_check_repair(meta_tx *tx, const char *sql, int64_t now, int64_t *changed,
                    es_err *err)
{
    int n = strstr(sql, "$1") ? pg_exec(tx, sql, PG_P(PG_I(now)), err)
                              : pg_exec(tx, sql, PG_NONE, err);
    if (n < 0)
        return -1;
    *changed = n;
    return 0;
}

int pg_chunk_container_each(meta_tx *tx,
                            int (*fn)(void *ctx, uint64_t container,
                                      int64_t chunks, int64_t bytes,
                                      uint64_t end),
                            void *ctx, es_err *err)
{
    PGresult *r = pg_run(tx,
                         "SELECT pack, count(*), sum(length), max(\"offset\" + "
                         "length) "
                         "FROM chunks GROUP BY pack ORDER BY pack",
                         PG_NONE, err);
    int rc = 0;
    if (!r)
        return -1;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++)
        rc = fn(ctx, (uint64_t)pg_col_i64(r, i, 0), pg_col_i64(r, i, 1),
                pg_col_i64(r, i, 2), (uint64_t)pg_col_i64(r, i, 3));
    PQclear(r);
    return rc;
}
