/*
 * meta_sqlite_mirror.c - the mirror's memory of its upstream hub, in
 * SQLite: revision pins, commit listings and which files were fetched.
 * Schema: migrations/0003_mirror.sql.
 */
#include "meta_sqlite_internal.h"

#include <stdlib.h>
#include <string.h>

#include "vec.h"

int sq_mirror_pin_get(meta_tx *tx, const char *key, const char *rev,
                      char commit[41], int64_t *fetched, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "SELECT commit_id, fetched FROM mirror_refs "
                              "WHERE repo_key = ? AND rev = ?",
                              err);
    if (!s)
        return -1;
    db_bind_text(s, 1, key);
    db_bind_text(s, 2, rev);
    int rc = db_step_row(d, s, err);
    if (rc == 1) {
        db_col_text(s, 0, commit, 41);
        *fetched = sqlite3_column_int64(s, 1);
    }
    sqlite3_reset(s);
    return rc;
}

int sq_mirror_pin_set(meta_tx *tx, const char *key, const char *rev,
                      const char *commit, int64_t fetched, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "INSERT OR REPLACE INTO mirror_refs (repo_key, "
                              "rev, commit_id, fetched) VALUES (?, ?, ?, ?)",
                              err);
    if (!s)
        return -1;
    db_bind_text(s, 1, key);
    db_bind_text(s, 2, rev);
    db_bind_text(s, 3, commit);
    db_bind_i64(s, 4, fetched);
    return db_step_done(d, s, err);
}

int sq_mirror_commit_get(meta_tx *tx, const char *key, const char *commit,
                         int64_t *created, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "SELECT created FROM mirror_commits WHERE "
                              "repo_key = ? AND commit_id = ?",
                              err);
    if (!s)
        return -1;
    db_bind_text(s, 1, key);
    db_bind_text(s, 2, commit);
    int rc = db_step_row(d, s, err);
    if (rc == 1)
        *created = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return rc;
}

int sq_mirror_commit_add(meta_tx *tx, const char *key, const char *commit,
                         int64_t created, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "INSERT OR IGNORE INTO mirror_commits "
                              "(repo_key, commit_id, created) VALUES (?, ?, "
                              "?)",
                              err);
    if (!s)
        return -1;
    db_bind_text(s, 1, key);
    db_bind_text(s, 2, commit);
    db_bind_i64(s, 3, created);
    return db_step_done(d, s, err);
}

int sq_mirror_entry_each(meta_tx *tx, const char *key, const char *commit,
                         int (*fn)(void *ctx, const meta_hf_entry *e),
                         void *ctx, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "SELECT path, size, sha256, git_sha1, "
                              "coalesce(file_id, 0) FROM mirror_entries "
                              "WHERE repo_key = ? AND commit_id = ? ORDER BY "
                              "path",
                              err);
    if (!s)
        return -1;
    db_bind_text(s, 1, key);
    db_bind_text(s, 2, commit);
    return sq_hf_entries_each(d, s, fn, ctx, err);
}

int sq_mirror_entry_add(meta_tx *tx, const char *key, const char *commit,
                        const meta_hf_entry *e, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(
        d,
        "INSERT OR REPLACE INTO mirror_entries (repo_key, commit_id, path, "
        "size, sha256, git_sha1, file_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
        "CASE WHEN ?5 != '' THEN (SELECT id FROM files WHERE upload_sha256 "
        "= ?5 AND upload_size = ?4 AND mode = 'lossless' LIMIT 1) ELSE "
        "(SELECT file_id FROM mirror_entries WHERE git_sha1 = ?6 AND size = "
        "?4 AND file_id IS NOT NULL LIMIT 1) END)",
        err);
    if (!s)
        return -1;
    db_bind_text(s, 1, key);
    db_bind_text(s, 2, commit);
    db_bind_text(s, 3, e->path);
    db_bind_i64(s, 4, (int64_t)e->size);
    db_bind_text(s, 5, e->git_sha1[0] ? "" : e->sha256);
    db_bind_text(s, 6, e->git_sha1);
    return db_step_done(d, s, err);
}

int sq_mirror_entry_fetched(meta_tx *tx, const char *key, const char *commit,
                            const char *path, int64_t file_id, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "UPDATE mirror_entries SET file_id = ? WHERE "
                              "repo_key = ? AND commit_id = ? AND path = ?",
                              err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, file_id);
    db_bind_text(s, 2, key);
    db_bind_text(s, 3, commit);
    db_bind_text(s, 4, path);
    return db_step_done(d, s, err);
}
