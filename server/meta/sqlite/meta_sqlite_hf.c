/*
 * meta_sqlite_hf.c - what the Hugging Face API keeps beside the native
 * tables, in SQLite: repository settings, git blob ids, content-addressed
 * objects, and the commit edits a Hub commit makes.  Schema:
 * migrations/0002_hf.sql.
 */
#include "meta_sqlite_internal.h"

#include <stdlib.h>
#include <string.h>

#include "vec.h"

/* Runs a prepared (commit, path) statement; returns rows changed. */
static int run_path_stmt(db *d, sqlite3_stmt *s, const char *commit,
                         const char *path, es_err *err)
{
    if (!s)
        return -1;
    db_bind_text(s, 1, commit);
    db_bind_text(s, 2, path);
    if (db_step_done(d, s, err) < 0)
        return -1;
    return db_changes(d);
}

int sq_entry_delete(meta_tx *tx, const char *commit, const char *path,
                    es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(
        d, "DELETE FROM tree_entries WHERE commit_id = ? AND path = ?", err);
    return run_path_stmt(d, s, commit, path, err);
}

int sq_entry_delete_under(meta_tx *tx, const char *commit, const char *dir,
                          es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "DELETE FROM tree_entries WHERE commit_id = ?1 "
                              "AND path > ?2 || '/' AND path < ?2 || '0'",
                              err);
    return run_path_stmt(d, s, commit, dir, err);
}

int sq_commit_get(meta_tx *tx, const char *id, int64_t *created,
                  char message[256], es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s =
        db_prep(d, "SELECT created, message FROM commits WHERE id = ?", err);
    if (!s)
        return -1;
    db_bind_text(s, 1, id);
    int rc = db_step_row(d, s, err);
    if (rc == 1) {
        *created = sqlite3_column_int64(s, 0);
        db_col_text(s, 1, message, 256);
    }
    sqlite3_reset(s);
    return rc;
}

int sq_hf_repo_get(meta_tx *tx, const char *name, meta_hf_repo *out,
                   es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "SELECT r.id, r.mode, coalesce(h.type, "
                              "'model'), coalesce(h.private, 0), "
                              "coalesce(h.gated, 'false'), r.created FROM "
                              "repos r "
                              "LEFT JOIN hf_repos h ON h.repo_id = r.id "
                              "WHERE r.name = ?",
                              err);
    if (!s)
        return -1;
    db_bind_text(s, 1, name);
    int rc = db_step_row(d, s, err);
    if (rc == 1) {
        memset(out, 0, sizeof *out);
        out->id = sqlite3_column_int64(s, 0);
        db_col_text(s, 1, out->mode, sizeof out->mode);
        db_col_text(s, 2, out->type, sizeof out->type);
        out->is_private = sqlite3_column_int(s, 3) != 0;
        db_col_text(s, 4, out->gated, sizeof out->gated);
        out->created = sqlite3_column_int64(s, 5);
    }
    sqlite3_reset(s);
    return rc;
}

int sq_hf_repo_settings(meta_tx *tx, int64_t repo_id, const char *type,
                        int is_private, const char *gated, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(
        d,
        "INSERT INTO hf_repos (repo_id, type, private, gated) VALUES (?, ?, "
        "?, ?) ON CONFLICT (repo_id) DO UPDATE SET type = excluded.type, "
        "private = excluded.private, gated = excluded.gated",
        err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, repo_id);
    db_bind_text(s, 2, type);
    db_bind_i64(s, 3, is_private ? 1 : 0);
    db_bind_text(s, 4, gated);
    return db_step_done(d, s, err);
}

int sq_ref_delete(meta_tx *tx, int64_t repo_id, const char *name, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s =
        db_prep(d, "DELETE FROM refs WHERE repo_id = ? AND name = ?", err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, repo_id);
    db_bind_text(s, 2, name);
    if (db_step_done(d, s, err) < 0)
        return -1;
    return db_changes(d) > 0;
}

int sq_commit_info(meta_tx *tx, const char *id, meta_commit_row *out,
                   es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(
        d, "SELECT parent, created, message FROM commits WHERE id = ?", err);
    if (!s)
        return -1;
    db_bind_text(s, 1, id);
    int rc = db_step_row(d, s, err);
    if (rc == 1) {
        db_col_text(s, 0, out->parent, sizeof out->parent);
        out->created = sqlite3_column_int64(s, 1);
        db_col_text(s, 2, out->message, sizeof out->message);
    }
    sqlite3_reset(s);
    return rc;
}

int sq_repo_rename(meta_tx *tx, int64_t repo_id, const char *name, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d, "UPDATE repos SET name = ? WHERE id = ?", err);
    if (!s)
        return -1;
    db_bind_text(s, 1, name);
    db_bind_i64(s, 2, repo_id);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_CONSTRAINT)
        return es_errf(err, 409, "repository '%s' already exists", name);
    return rc == SQLITE_DONE ? 0 : db_fail(d, err, "rename repo");
}

typedef struct hf_row {
    char *path;
    meta_hf_entry e;
} hf_row;

int sq_hf_entries_each(db *d, sqlite3_stmt *s,
                       int (*fn)(void *ctx, const meta_hf_entry *e), void *ctx,
                       es_err *err)
{
    int with_file_id = sqlite3_column_count(s) > 4;
    /* Rows are read first, so fn may make other calls on tx. */
    vec rows = VEC_INIT(hf_row);
    int rc;
    while ((rc = db_step_row(d, s, err)) == 1) {
        hf_row *r = vec_grow(&rows);
        if (!r ||
            !(r->path = strdup((const char *)sqlite3_column_text(s, 0)))) {
            rc = es_errf(err, 500, "out of memory");
            break;
        }
        r->e.size = (uint64_t)sqlite3_column_int64(s, 1);
        db_col_text(s, 2, r->e.sha256, sizeof r->e.sha256);
        db_col_text(s, 3, r->e.git_sha1, sizeof r->e.git_sha1);
        if (with_file_id)
            r->e.file_id = sqlite3_column_int64(s, 4);
    }
    sqlite3_reset(s);
    for (size_t i = 0; rc == 0 && i < rows.n; i++) {
        hf_row *r = &VEC_AT(&rows, hf_row, i);
        r->e.path = r->path;
        rc = fn(ctx, &r->e);
    }
    for (size_t i = 0; i < rows.n; i++)
        free(VEC_AT(&rows, hf_row, i).path);
    vec_free(&rows);
    return rc;
}

int sq_hf_entry_each(meta_tx *tx, const char *commit,
                     int (*fn)(void *ctx, const meta_hf_entry *e), void *ctx,
                     es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "SELECT te.path, f.size, f.sha256, b.git_sha1 "
                              "FROM tree_entries te JOIN files f ON f.id = "
                              "te.file_id LEFT JOIN hf_blobs b ON b.file_id "
                              "= f.id WHERE te.commit_id = ? ORDER BY te.path",
                              err);
    if (!s)
        return -1;
    db_bind_text(s, 1, commit);
    return sq_hf_entries_each(d, s, fn, ctx, err);
}

int sq_object_find(meta_tx *tx, const char *sha256, uint64_t size,
                   const char *mode, int64_t *file_id, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "SELECT id FROM files WHERE upload_sha256 = ?1 "
                              "AND (?2 < 0 OR upload_size = ?2) AND mode = ?3 "
                              "ORDER BY state = 'failed', id LIMIT 1",
                              err);
    if (!s)
        return -1;
    db_bind_text(s, 1, sha256);
    db_bind_i64(s, 2, (int64_t)size);
    db_bind_text(s, 3, mode);
    int rc = db_step_row(d, s, err);
    if (rc == 1)
        *file_id = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return rc;
}

int sq_blob_add(meta_tx *tx, int64_t file_id, const char *git_sha1, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(
        d, "INSERT OR IGNORE INTO hf_blobs (file_id, git_sha1) VALUES (?, ?)",
        err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, file_id);
    db_bind_text(s, 2, git_sha1);
    return db_step_done(d, s, err);
}
