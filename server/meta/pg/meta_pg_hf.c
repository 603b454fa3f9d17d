/*
 * meta_pg_hf.c - what the Hugging Face API keeps beside the native tables,
 * in PostgreSQL: repository settings, git blob ids, content-addressed
 * objects, and the mirror's memory of its upstream hub (the statements of
 * meta_sqlite_hf.c and meta_sqlite_mirror.c).  Schema:
 * migrations/0002_hf.sql, 0003_mirror.sql.
 */
#include "meta_pg_internal.h"

#include <stdlib.h>
#include <string.h>

int pg_hf_repo_get(meta_tx *tx, const char *name, meta_hf_repo *out,
                   es_err *err)
{
    PGresult *r = pg_run(tx,
                         "SELECT r.id, r.mode, coalesce(h.type, 'model'), "
                         "coalesce(h.private, 0), coalesce(h.gated, 'false'), "
                         "r.created FROM repos r LEFT JOIN "
                         "hf_repos h ON h.repo_id = r.id WHERE r.name = $1",
                         PG_P(PG_T(name)), err);
    if (!r)
        return -1;
    int found = PQntuples(r) > 0;
    if (found) {
        memset(out, 0, sizeof *out);
        out->id = pg_col_i64(r, 0, 0);
        pg_col_text(r, 0, 1, out->mode, sizeof out->mode);
        pg_col_text(r, 0, 2, out->type, sizeof out->type);
        out->is_private = pg_col_i64(r, 0, 3) != 0;
        pg_col_text(r, 0, 4, out->gated, sizeof out->gated);
        out->created = pg_col_i64(r, 0, 5);
    }
    PQclear(r);
    return found;
}

int pg_hf_repo_settings(meta_tx *tx, int64_t repo_id, const char *type,
                        int is_private, const char *gated, es_err *err)
{
    return pg_ran(pg_exec(
        tx,
        "INSERT INTO hf_repos (repo_id, type, private, gated) VALUES ($1, $2, "
        "$3, $4) ON CONFLICT (repo_id) DO UPDATE SET type = EXCLUDED.type, "
        "private = EXCLUDED.private, gated = EXCLUDED.gated",
        PG_P(PG_I(repo_id), PG_T(type), PG_I(is_private ? 1 : 0), PG_T(gated)),
        err));
}

int pg_ref_delete(meta_tx *tx, int64_t repo_id, const char *name,
                  es_err *err)
{
    int n = pg_exec(tx, "DELETE FROM refs WHERE repo_id = $1 AND name = $2",
                    PG_P(PG_I(repo_id), PG_T(name)), err);
    return n < 0 ? -1 : n > 0;
}

int pg_commit_info(meta_tx *tx, const char *id, meta_commit_row *out,
                   es_err *err)
{
    PGresult *r = pg_run(tx,
                         "SELECT parent, created, message FROM commits WHERE "
                         "id = $1",
                         PG_P(PG_T(id)), err);
    if (!r)
        return -1;
    int found = PQntuples(r) > 0;
    if (found) {
        pg_col_text(r, 0, 0, out->parent, sizeof out->parent);
        out->created = pg_col_i64(r, 0, 1);
        pg_col_text(r, 0, 2, out->message, sizeof out->message);
    }
    PQclear(r);
    return found;
}

int pg_repo_rename(meta_tx *tx, int64_t repo_id, const char *name,
                   es_err *err)
{
    if (pg_exec(tx, "UPDATE repos SET name = $1 WHERE id = $2",
                PG_P(PG_T(name), PG_I(repo_id)), err) >= 0)
        return 0;
    if (err->status == 409)
        es_errf(err, 409, "repository '%s' already exists", name);
    return -1;
}

/* Calls fn on every row of r (path, size, sha256, git_sha1[, file_id]);
 * clears r. */
static int hf_entries_each(PGresult *r,
                           int (*fn)(void *ctx, const meta_hf_entry *e),
                           void *ctx)
{
    int with_file_id = PQnfields(r) > 4;
    int rc = 0;
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        meta_hf_entry e = {PQgetvalue(r, i, 0), 0, "", "", 0};
        e.size = (uint64_t)pg_col_i64(r, i, 1);
        pg_col_text(r, i, 2, e.sha256, sizeof e.sha256);
        pg_col_text(r, i, 3, e.git_sha1, sizeof e.git_sha1);
        if (with_file_id)
            e.file_id = pg_col_i64(r, i, 4);
        rc = fn(ctx, &e);
    }
    PQclear(r);
    return rc;
}

int pg_hf_entry_each(meta_tx *tx, const char *commit,
                     int (*fn)(void *ctx, const meta_hf_entry *e), void *ctx,
                     es_err *err)
{
    PGresult *r = pg_run(tx,
                         "SELECT te.path, f.size, f.sha256, b.git_sha1 FROM "
                         "tree_entries te JOIN files f ON f.id = te.file_id "
                         "LEFT JOIN hf_blobs b ON b.file_id = f.id WHERE "
                         "te.commit_id = $1 ORDER BY te.path",
                         PG_P(PG_T(commit)), err);
    return r ? hf_entries_each(r, fn, ctx) : -1;
}

int pg_object_find(meta_tx *tx, const char *sha256, uint64_t size,
                   const char *mode, int64_t *file_id, es_err *err)
{
    return pg_i64(tx,
                  "SELECT id FROM files WHERE upload_sha256 = $1 AND "
                  "($2::bigint < 0 OR upload_size = $2) AND mode = $3 ORDER "
                  "BY state = 'failed', id LIMIT 1",
                  PG_P(PG_T(sha256), PG_I(size), PG_T(mode)), file_id, err);
}

int pg_blob_add(meta_tx *tx, int64_t file_id, const char *git_sha1,
                es_err *err)
{
    return pg_ran(pg_exec(tx,
                          "INSERT INTO hf_blobs (file_id, git_sha1) VALUES "
                          "($1, $2) ON CONFLICT DO NOTHING",
                          PG_P(PG_I(file_id), PG_T(git_sha1)), err));
}

/* ---- the mirror ------------------------------------------------------------ */

int pg_mirror_pin_get(meta_tx *tx, const char *key, const char *rev,
                      char commit[41], int64_t *fetched, es_err *err)
{
    PGresult *r = pg_run(tx,
                         "SELECT commit_id, fetched FROM mirror_refs WHERE "
                         "repo_key = $1 AND rev = $2",
                         PG_P(PG_T(key), PG_T(rev)), err);
    if (!r)
        return -1;
    int found = PQntuples(r) > 0;
    if (found) {
        pg_col_text(r, 0, 0, commit, 41);
        *fetched = pg_col_i64(r, 0, 1);
    }
    PQclear(r);
    return found;
}

int pg_mirror_pin_set(meta_tx *tx, const char *key, const char *rev,
                      const char *commit, int64_t fetched, es_err *err)
{
    return pg_ran(pg_exec(
        tx,
        "INSERT INTO mirror_refs (repo_key, rev, commit_id, fetched) VALUES "
        "($1, $2, $3, $4) ON CONFLICT (repo_key, rev) DO UPDATE SET "
        "commit_id = EXCLUDED.commit_id, fetched = EXCLUDED.fetched",
        PG_P(PG_T(key), PG_T(rev), PG_T(commit), PG_I(fetched)), err));
}

int pg_mirror_commit_get(meta_tx *tx, const char *key, const char *commit,
                         int64_t *created, es_err *err)
{
    return pg_i64(tx,
                  "SELECT created FROM mirror_commits WHERE repo_key = $1 AND "
                  "commit_id = $2",
                  PG_P(PG_T(key), PG_T(commit)), created, err);
}

int pg_mirror_commit_add(meta_tx *tx, const char *key, const char *commit,
                         int64_t created, es_err *err)
{
    return pg_ran(pg_exec(tx,
                          "INSERT INTO mirror_commits (repo_key, commit_id, "
                          "created) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                          PG_P(PG_T(key), PG_T(commit), PG_I(created)), err));
}

int pg_mirror_entry_each(meta_tx *tx, const char *key, const char *commit,
                         int (*fn)(void *ctx, const meta_hf_entry *e),
                         void *ctx, es_err *err)
{
    PGresult *r = pg_run(tx,
                         "SELECT path, size, sha256, git_sha1, coalesce(file_id, "
                         "0) FROM mirror_entries WHERE repo_key = $1 AND "
                         "commit_id = $2 ORDER BY path",
                         PG_P(PG_T(key), PG_T(commit)), err);
    return r ? hf_entries_each(r, fn, ctx) : -1;
}

int pg_mirror_entry_add(meta_tx *tx, const char *key, const char *commit,
                        const meta_hf_entry *e, es_err *err)
{
    return pg_ran(pg_exec(
        tx,
        "INSERT INTO mirror_entries (repo_key, commit_id, path, size, sha256, "
        "git_sha1, file_id) VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN "
        "$5::text != '' THEN (SELECT id FROM files WHERE upload_sha256 = "
        "$5::text AND upload_size = $4::bigint AND mode = 'lossless' LIMIT 1) "
        "ELSE (SELECT file_id FROM mirror_entries WHERE git_sha1 = $6::text "
        "AND size = $4::bigint AND file_id IS NOT NULL LIMIT 1) END) ON "
        "CONFLICT (repo_key, commit_id, path) DO UPDATE SET size = "
        "EXCLUDED.size, sha256 = EXCLUDED.sha256, git_sha1 = "
        "EXCLUDED.git_sha1, file_id = EXCLUDED.file_id",
        PG_P(PG_T(key), PG_T(commit), PG_T(e->path), PG_I(e->size),
             PG_T(e->git_sha1[0] ? "" : e->sha256), PG_T(e->git_sha1)),
        err));
}

int pg_mirror_entry_fetched(meta_tx *tx, const char *key, const char *commit,
                            const char *path, int64_t file_id, es_err *err)
{
    return pg_ran(pg_exec(tx,
                          "UPDATE mirror_entries SET file_id = $1 WHERE "
                          "repo_key = $2 AND commit_id = $3 AND path = $4",
                          PG_P(PG_I(file_id), PG_T(key), PG_T(commit),
                               PG_T(path)),
                          err));
}
