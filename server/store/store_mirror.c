/*
 * store_mirror.c - the mirror's memory of its upstream hub (store_hf.h,
 * migrations/0003_mirror.sql): revision pins, the file listing of each
 * fetched commit, and which of those files have been fetched.
 */
#include "store_hf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

int store_mirror_pin_get(es_store *st, const char *key, const char *rev,
                         char commit[41], int64_t *fetched, es_err *err)
{
    db_lock(st->db);
    sqlite3_stmt *s = db_prep(st->db,
                              "SELECT commit_id, fetched FROM mirror_refs "
                              "WHERE repo_key = ? AND rev = ?",
                              err);
    int rc = -1;
    if (s) {
        db_bind_text(s, 1, key);
        db_bind_text(s, 2, rev);
        rc = db_step_row(st->db, s, err);
        if (rc == 1) {
            db_col_text(s, 0, commit, 41);
            *fetched = sqlite3_column_int64(s, 1);
        }
        sqlite3_reset(s);
    }
    db_unlock(st->db);
    return rc;
}

int store_mirror_pin_set(es_store *st, const char *key, const char *rev,
                         const char *commit, es_err *err)
{
    db_lock(st->db);
    sqlite3_stmt *s = db_prep(st->db,
                              "INSERT OR REPLACE INTO mirror_refs (repo_key, "
                              "rev, commit_id, fetched) VALUES (?, ?, ?, ?)",
                              err);
    int rc = -1;
    if (s) {
        db_bind_text(s, 1, key);
        db_bind_text(s, 2, rev);
        db_bind_text(s, 3, commit);
        db_bind_i64(s, 4, es_now());
        rc = db_step_done(st->db, s, err);
    }
    db_unlock(st->db);
    return rc;
}

static int listing_append(hf_file_list *l, size_t *cap, sqlite3_stmt *s)
{
    if (hf_file_list_append(l, cap, s) < 0)
        return -1;
    hf_file *f = &l->items[l->n - 1];
    f->file_id = sqlite3_column_int64(s, 4);
    if (!f->sha256[0]) /* regular file: a stable stand-in */
        snprintf(f->sha256, sizeof f->sha256, "%s%024d", f->git_sha1, 0);
    return 0;
}

static int listing_locked(es_store *st, const char *key, const char *commit,
                          hf_file_list *out, es_err *err)
{
    size_t cap = 0;
    sqlite3_stmt *s = db_prep(st->db,
                              "SELECT path, size, sha256, git_sha1, "
                              "coalesce(file_id, 0) FROM mirror_entries "
                              "WHERE repo_key = ? AND commit_id = ? ORDER BY "
                              "path",
                              err);
    if (!s)
        return -1;
    db_bind_text(s, 1, key);
    db_bind_text(s, 2, commit);
    int rc;
    while ((rc = db_step_row(st->db, s, err)) == 1)
        if (listing_append(out, &cap, s) < 0) {
            rc = es_errf(err, 500, "out of memory");
            break;
        }
    sqlite3_reset(s);
    return rc < 0 ? -1 : 0;
}

int store_mirror_listing(es_store *st, const char *key, const char *commit,
                         hf_file_list *out, int64_t *created, es_err *err)
{
    memset(out, 0, sizeof *out);
    db_lock(st->db);
    sqlite3_stmt *s = db_prep(st->db,
                              "SELECT created FROM mirror_commits WHERE "
                              "repo_key = ? AND commit_id = ?",
                              err);
    int rc = -1;
    if (s) {
        db_bind_text(s, 1, key);
        db_bind_text(s, 2, commit);
        rc = db_step_row(st->db, s, err);
        if (rc == 1)
            *created = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
    }
    if (rc == 1 && listing_locked(st, key, commit, out, err) < 0)
        rc = -1;
    db_unlock(st->db);
    if (rc < 0)
        hf_file_list_free(out);
    return rc;
}

static int save_entry(es_store *st, const char *key, const char *commit,
                      const hf_file *f, es_err *err)
{
    /* a file already fetched (any commit, any repo) is reused: an LFS
     * object by sha256, a regular file by blob id */
    sqlite3_stmt *s = db_prep(
        st->db,
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
    db_bind_text(s, 3, f->path);
    db_bind_i64(s, 4, (int64_t)f->size);
    db_bind_text(s, 5, f->git_sha1[0] ? "" : f->sha256);
    db_bind_text(s, 6, f->git_sha1);
    return db_step_done(st->db, s, err);
}

static int save_tx(es_store *st, const char *key, const char *commit,
                   const hf_file_list *files, es_err *err)
{
    sqlite3_stmt *s = db_prep(st->db,
                              "INSERT OR IGNORE INTO mirror_commits "
                              "(repo_key, commit_id, created) VALUES (?, ?, "
                              "?)",
                              err);
    if (!s)
        return -1;
    db_bind_text(s, 1, key);
    db_bind_text(s, 2, commit);
    db_bind_i64(s, 3, es_now());
    if (db_step_done(st->db, s, err) < 0)
        return -1;
    for (size_t i = 0; i < files->n; i++)
        if (save_entry(st, key, commit, &files->items[i], err) < 0)
            return -1;
    return 0;
}

int store_mirror_save(es_store *st, const char *key, const char *commit,
                      const hf_file_list *files, es_err *err)
{
    if (db_tx_begin(st->db, err) < 0)
        return -1;
    if (save_tx(st, key, commit, files, err) < 0) {
        db_tx_rollback(st->db);
        return -1;
    }
    return db_tx_commit(st->db, err);
}

int store_mirror_set_file(es_store *st, const char *key, const char *commit,
                          const char *path, int64_t file_id, es_err *err)
{
    db_lock(st->db);
    sqlite3_stmt *s = db_prep(st->db,
                              "UPDATE mirror_entries SET file_id = ? WHERE "
                              "repo_key = ? AND commit_id = ? AND path = ?",
                              err);
    int rc = -1;
    if (s) {
        db_bind_i64(s, 1, file_id);
        db_bind_text(s, 2, key);
        db_bind_text(s, 3, commit);
        db_bind_text(s, 4, path);
        rc = db_step_done(st->db, s, err);
    }
    db_unlock(st->db);
    return rc;
}

int store_file_by_id(es_store *st, int64_t file_id, const char *commit,
                     store_file *out, es_err *err)
{
    db_lock(st->db);
    sqlite3_stmt *s = db_prep(st->db,
                              "SELECT size, sha256, created, state FROM "
                              "files WHERE id = ?",
                              err);
    int rc = -1;
    if (s) {
        db_bind_i64(s, 1, file_id);
        rc = db_step_row(st->db, s, err);
        if (rc == 1) {
            memset(out, 0, sizeof *out);
            out->file_id = file_id;
            out->size = (uint64_t)sqlite3_column_int64(s, 0);
            db_col_text(s, 1, out->sha256, sizeof out->sha256);
            out->mtime = sqlite3_column_int64(s, 2);
            db_col_text(s, 3, out->state, sizeof out->state);
            snprintf(out->commit, sizeof out->commit, "%s", commit);
        }
        sqlite3_reset(s);
    }
    db_unlock(st->db);
    if (rc == 0)
        return es_errf(err, 404, "file version %lld is gone",
                       (long long)file_id);
    return rc < 0 ? -1 : 0;
}
