/*
 * repo_hf.c - the store functions behind the Hugging Face compatible API
 * (store_hf.h): Hub settings of repositories, revision names, a commit's
 * file list, content-addressed objects and multi-file commits.
 *
 * Commits are built on repo.c's helpers: a new commit copies its parent's
 * entries, then the operations edit that copy in order, inside one
 * transaction, so a client sees all of a commit or none of it.  Unlike the
 * native API's single-file changes, nothing replaced here is released:
 * older commits keep their files.
 */
#include "store_hf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

/* ---- repositories -------------------------------------------------------- */

static int load_repo(es_store *st, const char *name, hf_repo *out,
                     es_err *err)
{
    sqlite3_stmt *s = db_prep(st->db,
                              "SELECT r.id, r.mode, coalesce(h.type, "
                              "'model'), coalesce(h.private, 0) FROM repos r "
                              "LEFT JOIN hf_repos h ON h.repo_id = r.id "
                              "WHERE r.name = ?",
                              err);
    if (!s)
        return -1;
    db_bind_text(s, 1, name);
    int rc = db_step_row(st->db, s, err);
    if (rc == 1) {
        memset(out, 0, sizeof *out);
        out->id = sqlite3_column_int64(s, 0);
        db_col_text(s, 1, out->mode, sizeof out->mode);
        db_col_text(s, 2, out->type, sizeof out->type);
        out->is_private = sqlite3_column_int(s, 3) != 0;
        snprintf(out->name, sizeof out->name, "%s", name);
    }
    sqlite3_reset(s);
    if (rc == 0)
        return es_errf(err, 404, "repository '%.100s' not found", name);
    return rc < 0 ? -1 : 0;
}

int store_hf_repo(es_store *st, const char *name, hf_repo *out, es_err *err)
{
    if (!store_repo_name_valid(name))
        return es_errf(err, 404, "repository '%.100s' not found",
                       name ? name : "");
    db_lock(st->db);
    int rc = load_repo(st, name, out, err);
    db_unlock(st->db);
    return rc;
}

int store_hf_repo_create(es_store *st, const char *name, const char *type,
                         int is_private, es_err *err)
{
    json_t *made = NULL;
    if (strcmp(type, "model") != 0 && strcmp(type, "dataset") != 0)
        return es_errf(err, 400, "repository type must be model or dataset");
    if (store_repo_create(st, name, "lossless", &made, err) < 0)
        return -1;
    json_decref(made);
    if (db_tx_begin(st->db, err) < 0)
        return -1;
    sqlite3_stmt *s = db_prep(st->db,
                              "INSERT INTO hf_repos (repo_id, type, private) "
                              "SELECT id, ?, ? FROM repos WHERE name = ?",
                              err);
    int rc = s ? 0 : -1;
    if (s) {
        db_bind_text(s, 1, type);
        db_bind_i64(s, 2, is_private ? 1 : 0);
        db_bind_text(s, 3, name);
        rc = db_step_done(st->db, s, err);
    }
    if (rc < 0) {
        db_tx_rollback(st->db);
        return -1;
    }
    return db_tx_commit(st->db, err);
}

/* ---- revisions ------------------------------------------------------------ */

/* The ref name a Hub revision stands for. */
static const char *hub_ref_name(const char *rev)
{
    if (!rev || !*rev || strcmp(rev, "HEAD") == 0)
        return "main";
    if (strncmp(rev, "refs/heads/", 11) == 0)
        return rev + 11;
    if (strncmp(rev, "refs/tags/", 10) == 0)
        return rev + 10;
    return rev;
}

static int commit_info(es_store *st, hf_rev *out, es_err *err)
{
    sqlite3_stmt *s = db_prep(
        st->db, "SELECT created, message FROM commits WHERE id = ?", err);
    if (!s)
        return -1;
    db_bind_text(s, 1, out->commit);
    int rc = db_step_row(st->db, s, err);
    if (rc == 1) {
        out->created = sqlite3_column_int64(s, 0);
        db_col_text(s, 1, out->message, sizeof out->message);
    }
    sqlite3_reset(s);
    if (rc == 0)
        return es_errf(err, 404, "commit %s not found", out->commit);
    return rc < 0 ? -1 : 0;
}

int store_hf_resolve(es_store *st, const hf_repo *r, const char *rev,
                     hf_rev *out, es_err *err)
{
    memset(out, 0, sizeof *out);
    db_lock(st->db);
    int rc = resolve_rev(st, r->id, hub_ref_name(rev), out->commit, err);
    if (rc == 0)
        rc = commit_info(st, out, err);
    db_unlock(st->db);
    if (rc < 0 && err->status == 404)
        es_errf(err, 404, "revision '%.100s' not found in '%.100s'",
                rev ? rev : "", r->name);
    return rc;
}

/* ---- file lists ------------------------------------------------------------- */

void hf_file_list_free(hf_file_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i].path);
    free(l->items);
    memset(l, 0, sizeof *l);
}

int hf_file_list_append(hf_file_list *l, size_t *cap, sqlite3_stmt *s)
{
    if (l->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 32;
        hf_file *grown = realloc(l->items, ncap * sizeof *grown);
        if (!grown)
            return -1;
        l->items = grown;
        *cap = ncap;
    }
    hf_file *f = &l->items[l->n];
    memset(f, 0, sizeof *f);
    f->path = strdup((const char *)sqlite3_column_text(s, 0));
    if (!f->path)
        return -1;
    f->size = (uint64_t)sqlite3_column_int64(s, 1);
    db_col_text(s, 2, f->sha256, sizeof f->sha256);
    db_col_text(s, 3, f->git_sha1, sizeof f->git_sha1);
    l->n++;
    return 0;
}

int store_hf_files(es_store *st, const char *commit, hf_file_list *out,
                   es_err *err)
{
    size_t cap = 0;
    memset(out, 0, sizeof *out);
    db_lock(st->db);
    sqlite3_stmt *s = db_prep(st->db,
                              "SELECT te.path, f.size, f.sha256, b.git_sha1 "
                              "FROM tree_entries te JOIN files f ON f.id = "
                              "te.file_id LEFT JOIN hf_blobs b ON b.file_id "
                              "= f.id WHERE te.commit_id = ? ORDER BY te.path",
                              err);
    int rc = s ? 0 : -1;
    if (s) {
        db_bind_text(s, 1, commit);
        while ((rc = db_step_row(st->db, s, err)) == 1)
            if (hf_file_list_append(out, &cap, s) < 0) {
                rc = es_errf(err, 500, "out of memory");
                break;
            }
        sqlite3_reset(s);
    }
    db_unlock(st->db);
    if (rc < 0)
        hf_file_list_free(out);
    return rc < 0 ? -1 : 0;
}

/* ---- objects ---------------------------------------------------------------- */

static int find_locked(es_store *st, const hf_repo *r, const char *sha256,
                       uint64_t size, int64_t *file_id, es_err *err)
{
    sqlite3_stmt *s = db_prep(st->db,
                              "SELECT id FROM files WHERE upload_sha256 = ? "
                              "AND upload_size = ? AND mode = ? ORDER BY "
                              "state = 'failed', id LIMIT 1",
                              err);
    if (!s)
        return -1;
    db_bind_text(s, 1, sha256);
    db_bind_i64(s, 2, (int64_t)size);
    db_bind_text(s, 3, r->mode);
    int rc = db_step_row(st->db, s, err);
    if (rc == 1)
        *file_id = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return rc;
}

int store_hf_object_find(es_store *st, const hf_repo *r, const char *sha256,
                         uint64_t size, int64_t *file_id, es_err *err)
{
    db_lock(st->db);
    int rc = find_locked(st, r, sha256, size, file_id, err);
    db_unlock(st->db);
    return rc;
}

static int insert_blob(es_store *st, int64_t file_id, const char *git_sha1,
                       es_err *err)
{
    sqlite3_stmt *s = db_prep(st->db,
                              "INSERT OR IGNORE INTO hf_blobs (file_id, "
                              "git_sha1) VALUES (?, ?)",
                              err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, file_id);
    db_bind_text(s, 2, git_sha1);
    return db_step_done(st->db, s, err);
}

/* In a transaction: the existing object, or a new file row + job.
 * *is_new tells which (the spool file is kept only if new). */
static int object_tx(es_store *st, const hf_repo *r, const char *name,
                     const char *sha, uint64_t size, const char *git_sha1,
                     int64_t *file_id, int *is_new, es_err *err)
{
    char label[96];
    int64_t job_id;
    int rc = find_locked(st, r, sha, size, file_id, err);
    *is_new = rc == 0;
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    snprintf(label, sizeof label, "objects/%s", sha);
    if (spool_record_file(st, r->name, label, name, sha, size, r->mode,
                          file_id, &job_id, err) < 0)
        return -1;
    return git_sha1 ? insert_blob(st, *file_id, git_sha1, err) : 0;
}

static int check_expected(const char *want_sha, int64_t want_size,
                          const char *sha, uint64_t size, es_err *err)
{
    if (want_size >= 0 && (uint64_t)want_size != size)
        return es_errf(err, 400, "size mismatch: expected %lld bytes, got %llu",
                       (long long)want_size, (unsigned long long)size);
    if (want_sha && strcmp(want_sha, sha) != 0)
        return es_errf(err, 400, "sha256 mismatch: expected %.64s, got %s",
                       want_sha, sha);
    return 0;
}

int store_hf_object_put(es_store *st, const hf_repo *r, store_spool *sp,
                        const char *expect_sha256, int64_t expect_size,
                        const char *git_sha1, int64_t *file_id,
                        char sha_out[65], es_err *err)
{
    char sha[65], name[80];
    uint64_t size;
    int is_new = 0;
    if (spool_seal(sp, sha, &size, name, err) < 0 ||
        check_expected(expect_sha256, expect_size, sha, size, err) < 0) {
        spool_release(sp, 1);
        return -1;
    }
    if (db_tx_begin(st->db, err) < 0) {
        spool_release(sp, 1);
        return -1;
    }
    if (object_tx(st, r, name, sha, size, git_sha1, file_id, &is_new, err) <
        0) {
        db_tx_rollback(st->db);
        spool_release(sp, 1);
        return -1;
    }
    if (db_tx_commit(st->db, err) < 0) { /* rolled back and unlocked */
        spool_release(sp, 1);
        return -1;
    }
    spool_release(sp, !is_new);
    if (is_new)
        jobs_notify(st);
    if (sha_out)
        memcpy(sha_out, sha, 65);
    return 0;
}

/* ---- commits ---------------------------------------------------------------- */

/* Runs a prepared (commit, path) statement; returns rows changed. */
static int run_path_stmt(es_store *st, sqlite3_stmt *s, const char *commit,
                         const char *path, es_err *err)
{
    if (!s)
        return -1;
    db_bind_text(s, 1, commit);
    db_bind_text(s, 2, path);
    if (db_step_done(st->db, s, err) < 0)
        return -1;
    return db_changes(st->db);
}

static int delete_file(es_store *st, const char *commit, const char *path,
                       es_err *err)
{
    sqlite3_stmt *s = db_prep(st->db,
                              "DELETE FROM tree_entries WHERE commit_id = ? "
                              "AND path = ?",
                              err);
    return run_path_stmt(st, s, commit, path, err);
}

static int delete_folder(es_store *st, const char *commit, const char *path,
                         es_err *err)
{
    sqlite3_stmt *s = db_prep(st->db,
                              "DELETE FROM tree_entries WHERE commit_id = ?1 "
                              "AND path > ?2 || '/' AND path < ?2 || '0'",
                              err);
    return run_path_stmt(st, s, commit, path, err);
}

static int put_entry(es_store *st, const char *commit, const char *path,
                     int64_t file_id, es_err *err)
{
    if (delete_file(st, commit, path, err) < 0 ||
        check_no_clash(st, commit, path, err) < 0)
        return -1;
    return repo_add_entry(st, commit, path, file_id, err);
}

static int apply_op(es_store *st, const hf_repo *r, const char *commit,
                    const hf_op *op, es_err *err)
{
    int64_t file_id = op->file_id;
    int rc;
    if (!store_path_valid(op->path))
        return es_errf(err, 400, "invalid path '%.200s'", op->path);
    switch (op->kind) {
    case HF_OP_PUT_LFS:
        rc = find_locked(st, r, op->sha256, op->size, &file_id, err);
        if (rc == 0)
            return es_errf(err, 400,
                           "lfsFile '%.200s': object %s (%llu bytes) was "
                           "never uploaded",
                           op->path, op->sha256,
                           (unsigned long long)op->size);
        return rc < 0 ? -1 : put_entry(st, commit, op->path, file_id, err);
    case HF_OP_PUT:
        return put_entry(st, commit, op->path, file_id, err);
    case HF_OP_DELETE_FILE:
        rc = delete_file(st, commit, op->path, err);
        break;
    case HF_OP_DELETE_FOLDER:
        rc = delete_folder(st, commit, op->path, err);
        break;
    default:
        return es_errf(err, 400, "unknown operation");
    }
    if (rc == 0)
        return es_errf(err, 404, "'%.200s' not found", op->path);
    return rc < 0 ? -1 : 0;
}

static int copy_all_entries(es_store *st, const char *from, const char *to,
                            es_err *err)
{
    sqlite3_stmt *s = db_prep(st->db,
                              "INSERT INTO tree_entries (commit_id, path, "
                              "file_id) SELECT ?, path, file_id FROM "
                              "tree_entries WHERE commit_id = ?",
                              err);
    if (!s)
        return -1;
    db_bind_text(s, 1, to);
    db_bind_text(s, 2, from);
    return db_step_done(st->db, s, err);
}

static int commit_tx(es_store *st, const hf_repo *r, const char *branch,
                     const char *parent, const char *message,
                     const hf_op *ops, size_t n, char out[41], es_err *err)
{
    char head[41];
    if (branch_head(st, r->id, branch, head, err) < 0)
        return -1;
    if (parent && *parent && strcmp(parent, head) != 0)
        return es_errf(err, 412,
                       "parentCommit %.40s is not the head of '%.100s' (%s)",
                       parent, branch, head);
    if (insert_commit(st, r->id, head, message, out, err) < 0 ||
        copy_all_entries(st, head, out, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (apply_op(st, r, out, &ops[i], err) < 0)
            return -1;
    return move_branch(st, r->id, branch, out, err);
}

int store_hf_commit(es_store *st, const hf_repo *r, const char *branch,
                    const char *parent, const char *message, const hf_op *ops,
                    size_t n, char commit_out[41], es_err *err)
{
    if (db_tx_begin(st->db, err) < 0)
        return -1;
    if (commit_tx(st, r, hub_ref_name(branch), parent, message, ops, n,
                  commit_out, err) < 0) {
        db_tx_rollback(st->db);
        return -1;
    }
    return db_tx_commit(st->db, err);
}
