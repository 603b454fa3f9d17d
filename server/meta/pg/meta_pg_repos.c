/*
 * meta_pg_repos.c - repositories, refs, commits, tree entries and file
 * versions, in PostgreSQL (the statements of meta_sqlite_repos.c and the
 * commit edits of meta_sqlite_hf.c).  Schema: migrations/0001_init.sql.
 */
#include "meta_pg_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- repositories ------------------------------------------------------- */

int pg_repo_insert(meta_tx *tx, const char *name, const char *mode,
                   int64_t created, int64_t *id, es_err *err)
{
    if (pg_returning(tx,
                     "INSERT INTO repos (name, mode, created) VALUES ($1, $2, "
                     "$3) RETURNING id",
                     PG_P(PG_T(name), PG_T(mode), PG_I(created)), id,
                     err) == 0)
        return 0;
    if (err->status == 409)
        es_errf(err, 409, "repository '%s' already exists", name);
    return -1;
}

int pg_repo_delete(meta_tx *tx, int64_t repo_id, es_err *err)
{
    return pg_ran(pg_exec(tx, "DELETE FROM repos WHERE id = $1",
                       PG_P(PG_I(repo_id)), err));
}

int pg_repo_file_each(meta_tx *tx, int64_t repo_id,
                      int (*fn)(void *ctx, int64_t file_id), void *ctx,
                      es_err *err)
{
    PGresult *r = pg_run(tx,
                         "SELECT DISTINCT te.file_id FROM tree_entries te JOIN "
                         "commits c ON c.id = te.commit_id WHERE c.repo_id = $1",
                         PG_P(PG_I(repo_id)), err);
    if (!r)
        return -1;
    int rc = 0;
    for (int i = 0; rc == 0 && i < PQntuples(r); i++)
        rc = fn(ctx, pg_col_i64(r, i, 0));
    PQclear(r);
    return rc;
}

/* ---- refs and commits --------------------------------------------------- */

int pg_ref_get(meta_tx *tx, int64_t repo_id, const char *name, meta_ref *out,
               es_err *err)
{
    PGresult *r = pg_run(
        tx, "SELECT kind, commit_id FROM refs WHERE repo_id = $1 AND name = $2",
        PG_P(PG_I(repo_id), PG_T(name)), err);
    if (!r)
        return -1;
    int found = PQntuples(r) > 0;
    if (found) {
        pg_col_text(r, 0, 0, out->kind, sizeof out->kind);
        pg_col_text(r, 0, 1, out->commit, sizeof out->commit);
    }
    PQclear(r);
    return found;
}

int pg_ref_each(meta_tx *tx, int64_t repo_id, const char *kind,
                int (*fn)(void *ctx, const char *name, const char *commit),
                void *ctx, es_err *err)
{
    PGresult *r = pg_run(tx,
                         "SELECT name, commit_id FROM refs WHERE repo_id = $1 "
                         "AND kind = $2 ORDER BY name",
                         PG_P(PG_I(repo_id), PG_T(kind)), err);
    if (!r)
        return -1;
    int rc = 0;
    for (int i = 0; rc == 0 && i < PQntuples(r); i++)
        rc = fn(ctx, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
    PQclear(r);
    return rc;
}

int pg_ref_insert(meta_tx *tx, int64_t repo_id, const char *name,
                  const char *kind, const char *commit, es_err *err)
{
    return pg_ran(pg_exec(tx,
                       "INSERT INTO refs (repo_id, name, kind, commit_id) "
                       "VALUES ($1, $2, $3, $4)",
                       PG_P(PG_I(repo_id), PG_T(name), PG_T(kind),
                            PG_T(commit)),
                       err));
}

int pg_ref_move(meta_tx *tx, int64_t repo_id, const char *name,
                const char *commit, es_err *err)
{
    return pg_ran(pg_exec(
        tx, "UPDATE refs SET commit_id = $1 WHERE repo_id = $2 AND name = $3",
        PG_P(PG_T(commit), PG_I(repo_id), PG_T(name)), err));
}

int pg_commit_insert(meta_tx *tx, const char *id, int64_t repo_id,
                     const char *parent, const char *message, int64_t created,
                     es_err *err)
{
    return pg_ran(pg_exec(tx,
                       "INSERT INTO commits (id, repo_id, parent, message, "
                       "created) VALUES ($1, $2, $3, $4, $5)",
                       PG_P(PG_T(id), PG_I(repo_id), PG_T(parent),
                            PG_T(message), PG_I(created)),
                       err));
}

int pg_commit_exists(meta_tx *tx, int64_t repo_id, const char *id, es_err *err)
{
    return pg_exists(tx, "SELECT 1 FROM commits WHERE repo_id = $1 AND id = $2",
                  PG_P(PG_I(repo_id), PG_T(id)), err);
}

int pg_commit_get(meta_tx *tx, const char *id, int64_t *created,
                  char message[256], es_err *err)
{
    PGresult *r = pg_run(tx, "SELECT created, message FROM commits WHERE id = $1",
                         PG_P(PG_T(id)), err);
    if (!r)
        return -1;
    int found = PQntuples(r) > 0;
    if (found) {
        *created = pg_col_i64(r, 0, 0);
        pg_col_text(r, 0, 1, message, 256);
    }
    PQclear(r);
    return found;
}

/* ---- tree entries --------------------------------------------------------- */

int pg_entry_get(meta_tx *tx, const char *commit, const char *path,
                 int64_t *file_id, es_err *err)
{
    return pg_i64(tx,
                  "SELECT file_id FROM tree_entries WHERE commit_id = $1 AND "
                  "path = $2",
                  PG_P(PG_T(commit), PG_T(path)), file_id, err);
}

int pg_entry_under(meta_tx *tx, const char *commit, const char *dir,
                   es_err *err)
{
    return pg_exists(tx,
                  "SELECT 1 FROM tree_entries WHERE commit_id = $1 AND path > "
                  "$2::text || '/' AND path < $2::text || '0' LIMIT 1",
                  PG_P(PG_T(commit), PG_T(dir)), err);
}

int pg_entry_add(meta_tx *tx, const char *commit, const char *path,
                 int64_t file_id, es_err *err)
{
    return pg_ran(pg_exec(tx,
                       "INSERT INTO tree_entries (commit_id, path, file_id) "
                       "VALUES ($1, $2, $3)",
                       PG_P(PG_T(commit), PG_T(path), PG_I(file_id)), err));
}

int pg_entries_copy(meta_tx *tx, const char *from, const char *to,
                    const char *except, es_err *err)
{
    /* except NULL: "path IS DISTINCT FROM NULL" keeps every entry */
    return pg_ran(pg_exec(tx,
                       "INSERT INTO tree_entries (commit_id, path, file_id) "
                       "SELECT $1, path, file_id FROM tree_entries WHERE "
                       "commit_id = $2 AND path IS DISTINCT FROM $3::text",
                       PG_P(PG_T(to), PG_T(from), PG_T(except)), err));
}

int pg_entry_delete(meta_tx *tx, const char *commit, const char *path,
                    es_err *err)
{
    return pg_exec(tx,
                   "DELETE FROM tree_entries WHERE commit_id = $1 AND path = $2",
                   PG_P(PG_T(commit), PG_T(path)), err);
}

int pg_entry_delete_under(meta_tx *tx, const char *commit, const char *dir,
                          es_err *err)
{
    return pg_exec(tx,
                   "DELETE FROM tree_entries WHERE commit_id = $1 AND path > "
                   "$2::text || '/' AND path < $2::text || '0'",
                   PG_P(PG_T(commit), PG_T(dir)), err);
}

/* ---- file versions ----------------------------------------------------------- */

#define FILE_COLS                                                              \
    "f.id, f.size, f.sha256, f.created, f.state, f.upload_size, f.error, "     \
    "f.spool"

/* The FILE_COLS of row i, from column `at` on. */
static void file_row(const PGresult *r, int i, int at, meta_file *f)
{
    memset(f, 0, sizeof *f);
    f->id = pg_col_i64(r, i, at);
    f->size = (uint64_t)pg_col_i64(r, i, at + 1);
    pg_col_text(r, i, at + 2, f->sha256, sizeof f->sha256);
    f->created = pg_col_i64(r, i, at + 3);
    pg_col_text(r, i, at + 4, f->state, sizeof f->state);
    f->upload_size = (uint64_t)pg_col_i64(r, i, at + 5);
    f->has_error = !pg_col_null(r, i, at + 6);
    pg_col_text(r, i, at + 6, f->error, sizeof f->error);
    pg_col_text(r, i, at + 7, f->spool, sizeof f->spool);
}

/* One file row of sql into *out: 1, 0 if none, -1. */
static int file_one(meta_tx *tx, const char *sql, const pg_param *p, int n,
                    meta_file *out, es_err *err)
{
    PGresult *r = pg_run(tx, sql, p, n, err);
    if (!r)
        return -1;
    int found = PQntuples(r) > 0;
    if (found)
        file_row(r, 0, 0, out);
    PQclear(r);
    return found;
}

int pg_entry_file(meta_tx *tx, const char *commit, const char *path,
                  meta_file *out, es_err *err)
{
    return file_one(tx,
                    "SELECT " FILE_COLS " FROM tree_entries te JOIN files f ON "
                    "f.id = te.file_id WHERE te.commit_id = $1 AND te.path = $2",
                    PG_P(PG_T(commit), PG_T(path)), out, err);
}

int pg_file_get(meta_tx *tx, int64_t file_id, meta_file *out, es_err *err)
{
    return file_one(tx, "SELECT " FILE_COLS " FROM files f WHERE f.id = $1",
                    PG_P(PG_I(file_id)), out, err);
}

int pg_entry_each(meta_tx *tx, const char *commit,
                  int (*fn)(void *ctx, const meta_entry *e), void *ctx,
                  es_err *err)
{
    PGresult *r = pg_run(tx,
                         "SELECT te.path, " FILE_COLS " FROM tree_entries te "
                         "JOIN files f ON f.id = te.file_id WHERE te.commit_id "
                         "= $1 ORDER BY te.path",
                         PG_P(PG_T(commit)), err);
    if (!r)
        return -1;
    int rc = 0;
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        meta_entry e = {PQgetvalue(r, i, 0), {0}};
        file_row(r, i, 1, &e.file);
        rc = fn(ctx, &e);
    }
    PQclear(r);
    return rc;
}

int pg_file_insert(meta_tx *tx, const meta_file_new *f, int64_t *id,
                   es_err *err)
{
    return pg_returning(
        tx,
        "INSERT INTO files (size, sha256, upload_size, upload_sha256, mode, "
        "state, spool, created) VALUES ($1, $2, $1, $2, $3, 'spooled', $4, "
        "$5) RETURNING id",
        PG_P(PG_I(f->size), PG_T(f->sha256), PG_T(f->mode), PG_T(f->spool),
             PG_I(f->created)),
        id, err);
}

int pg_file_listed(meta_tx *tx, int64_t file_id, es_err *err)
{
    return pg_exists(tx,
                  "SELECT 1 FROM tree_entries te JOIN refs r ON r.commit_id = "
                  "te.commit_id WHERE te.file_id = $1 LIMIT 1",
                  PG_P(PG_I(file_id)), err);
}

int pg_file_delete(meta_tx *tx, int64_t file_id, int64_t now,
                   char spool[META_SPOOL_NAME_MAX], es_err *err)
{
    spool[0] = '\0';
    PGresult *r = pg_run(tx, "SELECT spool FROM files WHERE id = $1",
                         PG_P(PG_I(file_id)), err);
    if (!r)
        return -1;
    if (PQntuples(r) > 0)
        pg_col_text(r, 0, 0, spool, META_SPOOL_NAME_MAX);
    PQclear(r);
    if (pg_exec(tx,
                "UPDATE jobs SET state = 'failed', error = 'file deleted', "
                "finished = $1 WHERE file_id = $2 AND state = 'queued'",
                PG_P(PG_I(now), PG_I(file_id)), err) < 0)
        return -1;
    return pg_ran(pg_exec(tx, "DELETE FROM files WHERE id = $1",
                       PG_P(PG_I(file_id)), err));
}

int pg_file_codec_each(meta_tx *tx, int64_t file_id,
                       int (*fn)(void *ctx, int codec, int64_t bytes),
                       void *ctx, es_err *err)
{
    PGresult *r = pg_run(tx,
                         "SELECT c.codec, sum(b.raw_len) FROM file_blocks b "
                         "JOIN chunks c ON c.id = b.chunk_id WHERE b.file_id = "
                         "$1 GROUP BY c.codec",
                         PG_P(PG_I(file_id)), err);
    if (!r)
        return -1;
    int rc = 0;
    for (int i = 0; rc == 0 && i < PQntuples(r); i++)
        rc = fn(ctx, (int)pg_col_i64(r, i, 0), pg_col_i64(r, i, 1));
    PQclear(r);
    return rc;
}

int pg_file_chunk_bytes(meta_tx *tx, int64_t file_id, int64_t *out,
                        es_err *err)
{
    return pg_ran(pg_i64(tx,
                      "SELECT coalesce(sum(length), 0) FROM chunks WHERE id IN "
                      "(SELECT chunk_id FROM file_blocks WHERE file_id = $1)",
                      PG_P(PG_I(file_id)), out, err));
}
