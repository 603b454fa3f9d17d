/*
 * meta_sqlite_repos.c - repositories, refs, commits, tree entries, file
 * versions and their jobs, in SQLite (the meta.h calls of repo.c and
 * spool.c).  Schema: migrations/0001_init.sql.
 */
#include "meta_sqlite_internal.h"

#include <stdlib.h>
#include <string.h>

#include "vec.h"

/* ---- repositories ------------------------------------------------------- */

int sq_repo_insert(meta_tx *tx, const char *name, const char *mode,
                   int64_t created, int64_t *id, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(
        d, "INSERT INTO repos (name, mode, created) VALUES (?, ?, ?)", err);
    if (!s)
        return -1;
    db_bind_text(s, 1, name);
    db_bind_text(s, 2, mode);
    db_bind_i64(s, 3, created);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_CONSTRAINT)
        return es_errf(err, 409, "repository '%s' already exists", name);
    if (rc != SQLITE_DONE)
        return db_fail(d, err, "insert repo");
    *id = db_last_id(d);
    return 0;
}

int sq_repo_delete(meta_tx *tx, int64_t repo_id, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d, "DELETE FROM repos WHERE id = ?", err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, repo_id);
    return db_step_done(d, s, err);
}

int sq_repo_file_each(meta_tx *tx, int64_t repo_id,
                      int (*fn)(void *ctx, int64_t file_id), void *ctx,
                      es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "SELECT DISTINCT te.file_id FROM tree_entries te "
                              "JOIN commits c ON c.id = te.commit_id WHERE "
                              "c.repo_id = ?",
                              err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, repo_id);
    /* Rows are read first, so fn may make other calls on tx. */
    vec ids = VEC_INIT(int64_t);
    int rc;
    while ((rc = db_step_row(d, s, err)) == 1) {
        int64_t id = sqlite3_column_int64(s, 0);
        if (vec_push(&ids, &id) < 0) {
            rc = es_errf(err, 500, "out of memory");
            break;
        }
    }
    sqlite3_reset(s);
    for (size_t i = 0; rc == 0 && i < ids.n; i++)
        rc = fn(ctx, VEC_AT(&ids, int64_t, i));
    vec_free(&ids);
    return rc;
}

/* ---- refs and commits ------------------------------------------------------
 */

int sq_ref_get(meta_tx *tx, int64_t repo_id, const char *name, meta_ref *out,
               es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(
        d, "SELECT kind, commit_id FROM refs WHERE repo_id = ? AND name = ?",
        err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, repo_id);
    db_bind_text(s, 2, name);
    int rc = db_step_row(d, s, err);
    if (rc == 1) {
        db_col_text(s, 0, out->kind, sizeof out->kind);
        db_col_text(s, 1, out->commit, sizeof out->commit);
    }
    sqlite3_reset(s);
    return rc;
}

typedef struct ref_row {
    char name[256];
    char commit[41];
} ref_row;

int sq_ref_each(meta_tx *tx, int64_t repo_id, const char *kind,
                int (*fn)(void *ctx, const char *name, const char *commit),
                void *ctx, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "SELECT name, commit_id FROM refs WHERE "
                              "repo_id = ? AND kind = ? ORDER BY name",
                              err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, repo_id);
    db_bind_text(s, 2, kind);
    vec rows = VEC_INIT(ref_row);
    int rc;
    while ((rc = db_step_row(d, s, err)) == 1) {
        ref_row *r = vec_grow(&rows);
        if (!r) {
            rc = es_errf(err, 500, "out of memory");
            break;
        }
        db_col_text(s, 0, r->name, sizeof r->name);
        db_col_text(s, 1, r->commit, sizeof r->commit);
    }
    sqlite3_reset(s);
    for (size_t i = 0; rc == 0 && i < rows.n; i++) {
        const ref_row *r = &VEC_AT(&rows, ref_row, i);
        rc = fn(ctx, r->name, r->commit);
    }
    vec_free(&rows);
    return rc;
}

int sq_ref_insert(meta_tx *tx, int64_t repo_id, const char *name,
                  const char *kind, const char *commit, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "INSERT INTO refs (repo_id, name, kind, "
                              "commit_id) VALUES (?, ?, ?, ?)",
                              err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, repo_id);
    db_bind_text(s, 2, name);
    db_bind_text(s, 3, kind);
    db_bind_text(s, 4, commit);
    return db_step_done(d, s, err);
}

int sq_ref_move(meta_tx *tx, int64_t repo_id, const char *name,
                const char *commit, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(
        d, "UPDATE refs SET commit_id = ? WHERE repo_id = ? AND name = ?", err);
    if (!s)
        return -1;
    db_bind_text(s, 1, commit);
    db_bind_i64(s, 2, repo_id);
    db_bind_text(s, 3, name);
    return db_step_done(d, s, err);
}

int sq_commit_insert(meta_tx *tx, const char *id, int64_t repo_id,
                     const char *parent, const char *message, int64_t created,
                     es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "INSERT INTO commits (id, repo_id, parent, "
                              "message, created) VALUES (?, ?, ?, ?, ?)",
                              err);
    if (!s)
        return -1;
    db_bind_text(s, 1, id);
    db_bind_i64(s, 2, repo_id);
    db_bind_text(s, 3, parent);
    db_bind_text(s, 4, message);
    db_bind_i64(s, 5, created);
    return db_step_done(d, s, err);
}

int sq_commit_exists(meta_tx *tx, int64_t repo_id, const char *id, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s =
        db_prep(d, "SELECT 1 FROM commits WHERE repo_id = ? AND id = ?", err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, repo_id);
    db_bind_text(s, 2, id);
    int rc = db_step_row(d, s, err);
    sqlite3_reset(s);
    return rc;
}

/* ---- tree entries
 * ------------------------------------------------------------ */

int sq_entry_get(meta_tx *tx, const char *commit, const char *path,
                 int64_t *file_id, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "SELECT file_id FROM tree_entries WHERE "
                              "commit_id = ? AND path = ?",
                              err);
    if (!s)
        return -1;
    db_bind_text(s, 1, commit);
    db_bind_text(s, 2, path);
    int rc = db_step_row(d, s, err);
    *file_id = rc == 1 ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    return rc;
}

int sq_entry_under(meta_tx *tx, const char *commit, const char *dir,
                   es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "SELECT 1 FROM tree_entries WHERE commit_id = ? "
                              "AND path > ? || '/' AND path < ? || '0' LIMIT 1",
                              err);
    if (!s)
        return -1;
    db_bind_text(s, 1, commit);
    db_bind_text(s, 2, dir);
    db_bind_text(s, 3, dir);
    int rc = db_step_row(d, s, err);
    sqlite3_reset(s);
    return rc;
}

int sq_entry_add(meta_tx *tx, const char *commit, const char *path,
                 int64_t file_id, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "INSERT INTO tree_entries (commit_id, path, "
                              "file_id) VALUES (?, ?, ?)",
                              err);
    if (!s)
        return -1;
    db_bind_text(s, 1, commit);
    db_bind_text(s, 2, path);
    db_bind_i64(s, 3, file_id);
    return db_step_done(d, s, err);
}

int sq_entries_copy(meta_tx *tx, const char *from, const char *to,
                    const char *except, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s =
        except ? db_prep(d,
                         "INSERT INTO tree_entries (commit_id, path, "
                         "file_id) SELECT ?, path, file_id FROM "
                         "tree_entries WHERE commit_id = ? AND path != ?",
                         err)
               : db_prep(d,
                         "INSERT INTO tree_entries (commit_id, path, "
                         "file_id) SELECT ?, path, file_id FROM "
                         "tree_entries WHERE commit_id = ?",
                         err);
    if (!s)
        return -1;
    db_bind_text(s, 1, to);
    db_bind_text(s, 2, from);
    if (except)
        db_bind_text(s, 3, except);
    return db_step_done(d, s, err);
}

/* The file columns of FILE_COLS, from column `at` on. */
#define FILE_COLS                                                              \
    "f.id, f.size, f.sha256, f.created, f.state, f.upload_size, f.error, "     \
    "f.spool"

static void file_row(sqlite3_stmt *s, int at, meta_file *f)
{
    memset(f, 0, sizeof *f);
    f->id = sqlite3_column_int64(s, at);
    f->size = (uint64_t)sqlite3_column_int64(s, at + 1);
    db_col_text(s, at + 2, f->sha256, sizeof f->sha256);
    f->created = sqlite3_column_int64(s, at + 3);
    db_col_text(s, at + 4, f->state, sizeof f->state);
    f->upload_size = (uint64_t)sqlite3_column_int64(s, at + 5);
    f->has_error = sqlite3_column_type(s, at + 6) != SQLITE_NULL;
    db_col_text(s, at + 6, f->error, sizeof f->error);
    db_col_text(s, at + 7, f->spool, sizeof f->spool);
}

int sq_entry_file(meta_tx *tx, const char *commit, const char *path,
                  meta_file *out, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "SELECT " FILE_COLS " FROM tree_entries te JOIN "
                              "files f ON f.id = te.file_id WHERE te.commit_id "
                              "= ? AND te.path = ?",
                              err);
    if (!s)
        return -1;
    db_bind_text(s, 1, commit);
    db_bind_text(s, 2, path);
    int rc = db_step_row(d, s, err);
    if (rc == 1)
        file_row(s, 0, out);
    sqlite3_reset(s);
    return rc;
}

int sq_file_get(meta_tx *tx, int64_t file_id, meta_file *out, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s =
        db_prep(d, "SELECT " FILE_COLS " FROM files f WHERE f.id = ?", err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, file_id);
    int rc = db_step_row(d, s, err);
    if (rc == 1)
        file_row(s, 0, out);
    sqlite3_reset(s);
    return rc;
}

typedef struct entry_row {
    char *path;
    meta_file file;
} entry_row;

int sq_entry_each(meta_tx *tx, const char *commit,
                  int (*fn)(void *ctx, const meta_entry *e), void *ctx,
                  es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "SELECT te.path, " FILE_COLS " FROM tree_entries "
                              "te JOIN files f ON f.id = te.file_id WHERE "
                              "te.commit_id = ? ORDER BY te.path",
                              err);
    if (!s)
        return -1;
    db_bind_text(s, 1, commit);
    vec rows = VEC_INIT(entry_row);
    int rc;
    while ((rc = db_step_row(d, s, err)) == 1) {
        entry_row *r = vec_grow(&rows);
        if (!r ||
            !(r->path = strdup((const char *)sqlite3_column_text(s, 0)))) {
            rc = es_errf(err, 500, "out of memory");
            break;
        }
        file_row(s, 1, &r->file);
    }
    sqlite3_reset(s);
    for (size_t i = 0; rc == 0 && i < rows.n; i++) {
        const entry_row *r = &VEC_AT(&rows, entry_row, i);
        meta_entry e = {r->path, r->file};
        rc = fn(ctx, &e);
    }
    for (size_t i = 0; i < rows.n; i++)
        free(VEC_AT(&rows, entry_row, i).path);
    vec_free(&rows);
    return rc;
}

/* ---- file versions and jobs
 * -------------------------------------------------- */

int sq_file_insert(meta_tx *tx, const meta_file_new *f, int64_t *id,
                   es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "INSERT INTO files (size, sha256, upload_size, "
                              "upload_sha256, mode, state, spool, created) "
                              "VALUES (?, ?, ?, ?, ?, 'spooled', ?, ?)",
                              err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, (int64_t)f->size);
    db_bind_text(s, 2, f->sha256);
    db_bind_i64(s, 3, (int64_t)f->size);
    db_bind_text(s, 4, f->sha256);
    db_bind_text(s, 5, f->mode);
    db_bind_text(s, 6, f->spool);
    db_bind_i64(s, 7, f->created);
    if (db_step_done(d, s, err) < 0)
        return -1;
    *id = db_last_id(d);
    return 0;
}

int sq_file_listed(meta_tx *tx, int64_t file_id, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "SELECT 1 FROM tree_entries te JOIN refs r ON "
                              "r.commit_id = te.commit_id WHERE te.file_id = "
                              "? LIMIT 1",
                              err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, file_id);
    int rc = db_step_row(d, s, err);
    sqlite3_reset(s);
    return rc;
}

int sq_file_delete(meta_tx *tx, int64_t file_id, int64_t now,
                   char spool[META_SPOOL_NAME_MAX], es_err *err)
{
    db *d = sq_db(tx);
    spool[0] = '\0';
    sqlite3_stmt *s = db_prep(d, "SELECT spool FROM files WHERE id = ?", err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, file_id);
    int rc = db_step_row(d, s, err);
    if (rc == 1)
        db_col_text(s, 0, spool, META_SPOOL_NAME_MAX);
    sqlite3_reset(s);
    if (rc < 0)
        return -1;
    s = db_prep(d,
                "UPDATE jobs SET state = 'failed', error = 'file deleted', "
                "finished = ? WHERE file_id = ? AND state = 'queued'",
                err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, now);
    db_bind_i64(s, 2, file_id);
    if (db_step_done(d, s, err) < 0)
        return -1;
    s = db_prep(d, "DELETE FROM files WHERE id = ?", err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, file_id);
    return db_step_done(d, s, err);
}

int sq_file_codec_each(meta_tx *tx, int64_t file_id,
                       int (*fn)(void *ctx, int codec, int64_t bytes),
                       void *ctx, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "SELECT c.codec, sum(b.raw_len) FROM file_blocks "
                              "b JOIN chunks c ON c.id = b.chunk_id WHERE "
                              "b.file_id = ? GROUP BY c.codec",
                              err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, file_id);
    /* a handful of codecs; read first, so fn may make other calls on tx */
    int codec[32];
    int64_t bytes[32];
    size_t n = 0;
    int rc;
    while ((rc = db_step_row(d, s, err)) == 1) {
        if (n == 32) {
            rc = es_errf(err, 500, "more codecs than known");
            break;
        }
        codec[n] = sqlite3_column_int(s, 0);
        bytes[n++] = sqlite3_column_int64(s, 1);
    }
    sqlite3_reset(s);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = fn(ctx, codec[i], bytes[i]);
    return rc;
}

int sq_file_chunk_bytes(meta_tx *tx, int64_t file_id, int64_t *out, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "SELECT coalesce(sum(length), 0) FROM chunks "
                              "WHERE id IN (SELECT chunk_id FROM file_blocks "
                              "WHERE file_id = ?)",
                              err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, file_id);
    int rc = db_step_row(d, s, err);
    *out = rc == 1 ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    return rc < 0 ? -1 : 0;
}

int sq_job_insert(meta_tx *tx, int64_t file_id, const char *repo,
                  const char *path, uint64_t total_bytes, int64_t created,
                  int64_t *id, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "INSERT INTO jobs (file_id, repo, path, state, "
                              "total_bytes, created) VALUES (?, ?, ?, "
                              "'queued', ?, ?)",
                              err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, file_id);
    db_bind_text(s, 2, repo);
    db_bind_text(s, 3, path);
    db_bind_i64(s, 4, (int64_t)total_bytes);
    db_bind_i64(s, 5, created);
    if (db_step_done(d, s, err) < 0)
        return -1;
    *id = db_last_id(d);
    return 0;
}
