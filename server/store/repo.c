/*
 * repo.c - repositories and their revisions: create/get/list/delete repos,
 * commits that add or remove one path, resolving a revision (branch, tag or
 * commit id) and looking files up, listing and deleting them.
 *
 * Every commit is a full snapshot of its paths (see migrations/0001).  A
 * file version lives while a branch or tag head lists it; a change that
 * drops the last such listing deletes the file row in the same
 * transaction, which releases its blocks (triggers) for the GC.
 */
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_BRANCH "main"

/* ---- small helpers ---------------------------------------------------------
 */

int name_list_add(name_list *l, const char *name)
{
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        char **grown = realloc(l->items, cap * sizeof *grown);
        if (!grown)
            return -1;
        l->items = grown;
        l->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return -1;
    l->items[l->count++] = copy;
    return 0;
}

static void name_list_unlink_spools(es_store *st, name_list *l)
{
    for (size_t i = 0; i < l->count; i++) {
        char path[4096];
        store_spool_path(st, l->items[i], path, sizeof path);
        unlink(path);
        free(l->items[i]);
    }
    free(l->items);
    memset(l, 0, sizeof *l);
}

static void name_list_free(name_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

int repo_tx_finish(es_store *st, int rc, name_list *dead, es_err *err)
{
    if (rc < 0) {
        db_tx_rollback(st->db);
        name_list_free(dead);
        return -1;
    }
    if (db_tx_commit(st->db, err) < 0) { /* rolled back */
        name_list_free(dead);
        return -1;
    }
    size_t released = dead->released;
    name_list_unlink_spools(st, dead);
    if (released)
        jobs_request_gc(st);
    return 0;
}

static int check_repo_name(const char *name, es_err *err)
{
    if (!store_repo_name_valid(name))
        return es_errf(err, 400, "invalid repository name '%.100s'",
                       name ? name : "");
    return 0;
}

static int check_path(const char *path, es_err *err)
{
    if (!store_path_valid(path))
        return es_errf(err, 400, "invalid path");
    return 0;
}

int repo_find(es_store *st, const char *name, int64_t *id, char mode[16],
              es_err *err)
{
    if (check_repo_name(name, err) < 0)
        return -1;
    sqlite3_stmt *s =
        db_prep(st->db, "SELECT id, mode FROM repos WHERE name = ?", err);
    if (!s)
        return -1;
    db_bind_text(s, 1, name);
    int rc = db_step_row(st->db, s, err);
    if (rc <= 0) {
        sqlite3_reset(s);
        return rc < 0 ? -1
                      : es_errf(err, 404, "repository '%s' not found", name);
    }
    *id = sqlite3_column_int64(s, 0);
    if (mode)
        db_col_text(s, 1, mode, 16);
    sqlite3_reset(s);
    return 0;
}

static int is_commit_id(const char *s)
{
    if (strlen(s) != 40)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}

/* Branch or tag name, or a commit id of this repo -> commit id. */
int resolve_rev(es_store *st, int64_t repo_id, const char *rev, char commit[41],
                es_err *err)
{
    if (!rev || !*rev)
        rev = DEFAULT_BRANCH;
    sqlite3_stmt *s = db_prep(
        st->db, "SELECT commit_id FROM refs WHERE repo_id = ? AND name = ?",
        err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, repo_id);
    db_bind_text(s, 2, rev);
    int rc = db_step_row(st->db, s, err);
    if (rc == 1)
        db_col_text(s, 0, commit, 41);
    sqlite3_reset(s);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    if (is_commit_id(rev)) {
        s = db_prep(st->db,
                    "SELECT 1 FROM commits WHERE repo_id = ? AND id = ?", err);
        if (!s)
            return -1;
        db_bind_i64(s, 1, repo_id);
        db_bind_text(s, 2, rev);
        rc = db_step_row(st->db, s, err);
        sqlite3_reset(s);
        if (rc == 1) {
            memcpy(commit, rev, 41);
            return 0;
        }
        if (rc < 0)
            return -1;
    }
    return es_errf(err, 404, "revision '%.100s' not found", rev);
}

/* ---- repositories ----------------------------------------------------------
 */

int insert_commit(es_store *st, int64_t repo_id, const char *parent,
                  const char *message, char id[41], es_err *err)
{
    if (es_random_hex(id, 20, err) < 0)
        return -1;
    sqlite3_stmt *s = db_prep(st->db,
                              "INSERT INTO commits (id, repo_id, parent, "
                              "message, created) VALUES (?, ?, ?, ?, ?)",
                              err);
    if (!s)
        return -1;
    db_bind_text(s, 1, id);
    db_bind_i64(s, 2, repo_id);
    db_bind_text(s, 3, parent);
    db_bind_text(s, 4, message);
    db_bind_i64(s, 5, es_now());
    return db_step_done(st->db, s, err);
}

static int insert_repo(es_store *st, const char *name, const char *mode,
                       int64_t *id, es_err *err)
{
    sqlite3_stmt *s = db_prep(
        st->db, "INSERT INTO repos (name, mode, created) VALUES (?, ?, ?)",
        err);
    if (!s)
        return -1;
    db_bind_text(s, 1, name);
    db_bind_text(s, 2, mode);
    db_bind_i64(s, 3, es_now());
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_CONSTRAINT)
        return es_errf(err, 409, "repository '%s' already exists", name);
    if (rc != SQLITE_DONE)
        return db_fail(st->db, err, "insert repo");
    *id = db_last_id(st->db);
    return 0;
}

static int create_tx(es_store *st, const char *name, const char *mode,
                     es_err *err)
{
    int64_t id = 0;
    char commit[41];
    if (insert_repo(st, name, mode, &id, err) < 0 ||
        insert_commit(st, id, NULL, "Initial commit", commit, err) < 0)
        return -1;
    sqlite3_stmt *s = db_prep(st->db,
                              "INSERT INTO refs (repo_id, name, kind, "
                              "commit_id) VALUES (?, ?, 'branch', ?)",
                              err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, id);
    db_bind_text(s, 2, DEFAULT_BRANCH);
    db_bind_text(s, 3, commit);
    return db_step_done(st->db, s, err);
}

int store_repo_create(es_store *st, const char *name, const char *mode,
                      json_t **out, es_err *err)
{
    if (check_repo_name(name, err) < 0)
        return -1;
    if (!mode)
        mode = "lossless";
    if (!store_mode_valid(mode))
        return es_errf(err, 400, "mode must be \"lossless\" or \"elf\"");
    if (db_tx_begin(st->db, err) < 0)
        return -1;
    if (create_tx(st, name, mode, err) < 0) {
        db_tx_rollback(st->db);
        return -1;
    }
    if (db_tx_commit(st->db, err) < 0)
        return -1;
    return store_repo_get(st, name, out, err);
}

/* {"main": "<commit>", ...} for one kind of ref. */
static json_t *refs_json(es_store *st, int64_t repo_id, const char *kind,
                         es_err *err)
{
    sqlite3_stmt *s = db_prep(st->db,
                              "SELECT name, commit_id FROM refs WHERE "
                              "repo_id = ? AND kind = ? ORDER BY name",
                              err);
    if (!s)
        return NULL;
    db_bind_i64(s, 1, repo_id);
    db_bind_text(s, 2, kind);
    json_t *obj = json_object();
    int rc;
    while ((rc = db_step_row(st->db, s, err)) == 1)
        json_object_set_new(
            obj, (const char *)sqlite3_column_text(s, 0),
            json_string((const char *)sqlite3_column_text(s, 1)));
    sqlite3_reset(s);
    if (rc < 0) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

static json_t *repo_row_json(es_store *st, sqlite3_stmt *s, es_err *err)
{
    int64_t id = sqlite3_column_int64(s, 0);
    json_t *r = json_pack("{s:s, s:s, s:I}", "name",
                          (const char *)sqlite3_column_text(s, 1), "mode",
                          (const char *)sqlite3_column_text(s, 2), "created",
                          (json_int_t)sqlite3_column_int64(s, 3));
    json_t *branches = refs_json(st, id, "branch", err);
    json_t *tags = branches ? refs_json(st, id, "tag", err) : NULL;
    if (!r || !branches || !tags) {
        json_decref(r);
        json_decref(branches);
        json_decref(tags);
        return NULL;
    }
    json_object_set_new(r, "branches", branches);
    json_object_set_new(r, "tags", tags);
    return r;
}

int store_repo_get(es_store *st, const char *name, json_t **out, es_err *err)
{
    if (check_repo_name(name, err) < 0)
        return -1;
    db_lock(st->db);
    sqlite3_stmt *s = db_prep(
        st->db, "SELECT id, name, mode, created FROM repos WHERE name = ?",
        err);
    int rc = s ? 0 : -1;
    if (s) {
        db_bind_text(s, 1, name);
        rc = db_step_row(st->db, s, err);
        if (rc == 0)
            rc = es_errf(err, 404, "repository '%s' not found", name);
        else if (rc == 1) {
            /* the row's columns must be read before refs_json reuses the
             * connection's other statements; this one stays positioned */
            *out = repo_row_json(st, s, err);
            rc = *out ? 0 : -1;
        }
        sqlite3_reset(s);
    }
    db_unlock(st->db);
    return rc;
}

int store_repo_list(es_store *st, json_t **out, es_err *err)
{
    json_t *list = json_array();
    db_lock(st->db);
    sqlite3_stmt *s = db_prep(
        st->db, "SELECT id, name, mode, created FROM repos ORDER BY name", err);
    int rc = s ? 0 : -1;
    while (s && (rc = db_step_row(st->db, s, err)) == 1) {
        json_t *r = repo_row_json(st, s, err);
        if (!r) {
            rc = -1;
            break;
        }
        json_array_append_new(list, r);
    }
    if (s)
        sqlite3_reset(s);
    db_unlock(st->db);
    if (rc < 0) {
        json_decref(list);
        return -1;
    }
    *out = list;
    return 0;
}

/* ---- releasing file versions ------------------------------------------------
 */

/* Deletes file_id if no branch or tag head lists it any more. */
int release_if_dead(es_store *st, int64_t file_id, name_list *dead, es_err *err)
{
    sqlite3_stmt *s = db_prep(st->db,
                              "SELECT 1 FROM tree_entries te JOIN refs r ON "
                              "r.commit_id = te.commit_id WHERE te.file_id = "
                              "? LIMIT 1",
                              err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, file_id);
    int live = db_step_row(st->db, s, err);
    sqlite3_reset(s);
    if (live != 0)
        return live < 0 ? -1 : 0;
    s = db_prep(st->db, "SELECT spool FROM files WHERE id = ?", err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, file_id);
    int rc = db_step_row(st->db, s, err);
    if (rc == 1 && sqlite3_column_type(s, 0) != SQLITE_NULL &&
        name_list_add(dead, (const char *)sqlite3_column_text(s, 0)) < 0)
        rc = es_errf(err, 500, "out of memory");
    sqlite3_reset(s);
    if (rc < 0)
        return -1;
    s = db_prep(st->db,
                "UPDATE jobs SET state = 'failed', error = 'file deleted', "
                "finished = ? WHERE file_id = ? AND state = 'queued'",
                err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, es_now());
    db_bind_i64(s, 2, file_id);
    if (db_step_done(st->db, s, err) < 0)
        return -1;
    s = db_prep(st->db, "DELETE FROM files WHERE id = ?", err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, file_id);
    if (db_step_done(st->db, s, err) < 0)
        return -1;
    dead->released++;
    return 0;
}

/* ---- commits ----------------------------------------------------------------
 */

int branch_head(es_store *st, int64_t repo_id, const char *branch,
                char head[41], es_err *err)
{
    sqlite3_stmt *s = db_prep(st->db,
                              "SELECT kind, commit_id FROM refs WHERE repo_id "
                              "= ? AND name = ?",
                              err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, repo_id);
    db_bind_text(s, 2, branch);
    int rc = db_step_row(st->db, s, err);
    char kind[16] = "";
    if (rc == 1) {
        db_col_text(s, 0, kind, sizeof kind);
        db_col_text(s, 1, head, 41);
    }
    sqlite3_reset(s);
    if (rc < 0)
        return -1;
    if (rc == 0)
        return es_errf(err, 404, "branch '%.100s' not found", branch);
    if (strcmp(kind, "branch") != 0)
        return es_errf(err, 400, "'%.100s' is a tag, not a branch", branch);
    return 0;
}

int store_branch_check(es_store *st, const char *repo, const char *revision,
                       es_err *err)
{
    const char *branch = revision && *revision ? revision : DEFAULT_BRANCH;
    int64_t repo_id;
    char head[41];
    db_lock(st->db);
    int rc = repo_find(st, repo, &repo_id, NULL, err) < 0 ||
                     branch_head(st, repo_id, branch, head, err) < 0
                 ? -1
                 : 0;
    db_unlock(st->db);
    return rc;
}

/* The file at path in commit (0 if none). */
static int entry_at(es_store *st, const char *commit, const char *path,
                    int64_t *file_id, es_err *err)
{
    sqlite3_stmt *s = db_prep(st->db,
                              "SELECT file_id FROM tree_entries WHERE "
                              "commit_id = ? AND path = ?",
                              err);
    if (!s)
        return -1;
    db_bind_text(s, 1, commit);
    db_bind_text(s, 2, path);
    int rc = db_step_row(st->db, s, err);
    *file_id = rc == 1 ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    return rc < 0 ? -1 : 0;
}

/* A file may not sit where a directory is, nor under a file. */
int check_no_clash(es_store *st, const char *commit, const char *path,
                   es_err *err)
{
    char prefix[1100];
    for (const char *p = strchr(path, '/'); p; p = strchr(p + 1, '/')) {
        int64_t id;
        snprintf(prefix, sizeof prefix, "%.*s", (int)(p - path), path);
        if (entry_at(st, commit, prefix, &id, err) < 0)
            return -1;
        if (id)
            return es_errf(err, 409, "'%.200s' is a file", prefix);
    }
    sqlite3_stmt *s = db_prep(st->db,
                              "SELECT 1 FROM tree_entries WHERE commit_id = ? "
                              "AND path > ? || '/' AND path < ? || '0' LIMIT 1",
                              err);
    if (!s)
        return -1;
    db_bind_text(s, 1, commit);
    db_bind_text(s, 2, path);
    db_bind_text(s, 3, path);
    int rc = db_step_row(st->db, s, err);
    sqlite3_reset(s);
    if (rc < 0)
        return -1;
    if (rc == 1)
        return es_errf(err, 409, "'%.200s' is a directory", path);
    return 0;
}

static int copy_entries(es_store *st, const char *from, const char *to,
                        const char *except, es_err *err)
{
    sqlite3_stmt *s = db_prep(st->db,
                              "INSERT INTO tree_entries (commit_id, path, "
                              "file_id) SELECT ?, path, file_id FROM "
                              "tree_entries WHERE commit_id = ? AND path != ?",
                              err);
    if (!s)
        return -1;
    db_bind_text(s, 1, to);
    db_bind_text(s, 2, from);
    db_bind_text(s, 3, except);
    return db_step_done(st->db, s, err);
}

int repo_add_entry(es_store *st, const char *commit, const char *path,
                   int64_t file_id, es_err *err)
{
    sqlite3_stmt *s = db_prep(st->db,
                              "INSERT INTO tree_entries (commit_id, path, "
                              "file_id) VALUES (?, ?, ?)",
                              err);
    if (!s)
        return -1;
    db_bind_text(s, 1, commit);
    db_bind_text(s, 2, path);
    db_bind_i64(s, 3, file_id);
    return db_step_done(st->db, s, err);
}

int move_branch(es_store *st, int64_t repo_id, const char *branch,
                const char *commit, es_err *err)
{
    sqlite3_stmt *s = db_prep(st->db,
                              "UPDATE refs SET commit_id = ? WHERE repo_id = "
                              "? AND name = ?",
                              err);
    if (!s)
        return -1;
    db_bind_text(s, 1, commit);
    db_bind_i64(s, 2, repo_id);
    db_bind_text(s, 3, branch);
    return db_step_done(st->db, s, err);
}

int repo_commit_change(es_store *st, int64_t repo_id, const char *revision,
                       const char *path, int64_t file_id, const char *message,
                       char commit_out[41], name_list *dead, es_err *err)
{
    const char *branch = revision && *revision ? revision : DEFAULT_BRANCH;
    char head[41];
    int64_t old_file;
    if (branch_head(st, repo_id, branch, head, err) < 0 ||
        entry_at(st, head, path, &old_file, err) < 0)
        return -1;
    if (!file_id && !old_file)
        return es_errf(err, 404, "'%.200s' not found on '%.100s'", path,
                       branch);
    if (file_id && !old_file && check_no_clash(st, head, path, err) < 0)
        return -1;
    if (insert_commit(st, repo_id, head, message, commit_out, err) < 0 ||
        copy_entries(st, head, commit_out, path, err) < 0 ||
        (file_id && repo_add_entry(st, commit_out, path, file_id, err) < 0) ||
        move_branch(st, repo_id, branch, commit_out, err) < 0)
        return -1;
    if (old_file && release_if_dead(st, old_file, dead, err) < 0)
        return -1;
    return 0;
}

/* ---- deleting
 * ---------------------------------------------------------------- */

/* The file versions any commit of the repo lists. */
static int repo_files(es_store *st, int64_t repo_id, int64_t **ids, size_t *n,
                      es_err *err)
{
    sqlite3_stmt *s = db_prep(st->db,
                              "SELECT DISTINCT te.file_id FROM tree_entries te "
                              "JOIN commits c ON c.id = te.commit_id WHERE "
                              "c.repo_id = ?",
                              err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, repo_id);
    size_t cap = 0;
    *ids = NULL;
    *n = 0;
    int rc;
    while ((rc = db_step_row(st->db, s, err)) == 1) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            int64_t *grown = realloc(*ids, cap * sizeof *grown);
            if (!grown) {
                rc = es_errf(err, 500, "out of memory");
                break;
            }
            *ids = grown;
        }
        (*ids)[(*n)++] = sqlite3_column_int64(s, 0);
    }
    sqlite3_reset(s);
    return rc < 0 ? -1 : 0;
}

static int delete_repo_tx(es_store *st, const char *name, name_list *dead,
                          es_err *err)
{
    int64_t repo_id;
    int64_t *ids = NULL;
    size_t n = 0;
    if (repo_find(st, name, &repo_id, NULL, err) < 0 ||
        repo_files(st, repo_id, &ids, &n, err) < 0) {
        free(ids);
        return -1;
    }
    sqlite3_stmt *s = db_prep(st->db, "DELETE FROM repos WHERE id = ?", err);
    int rc = s ? 0 : -1;
    if (s) {
        db_bind_i64(s, 1, repo_id);
        rc = db_step_done(st->db, s, err);
    }
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = release_if_dead(st, ids[i], dead, err);
    free(ids);
    return rc;
}

int store_repo_delete(es_store *st, const char *name, es_err *err)
{
    if (check_repo_name(name, err) < 0)
        return -1;
    name_list dead = {0};
    if (db_tx_begin(st->db, err) < 0)
        return -1;
    return repo_tx_finish(st, delete_repo_tx(st, name, &dead, err), &dead, err);
}

int store_file_delete(es_store *st, const char *repo, const char *revision,
                      const char *path, es_err *err)
{
    if (check_repo_name(repo, err) < 0 || check_path(path, err) < 0)
        return -1;
    char message[1100], commit[41];
    snprintf(message, sizeof message, "Delete %s", path);
    name_list dead = {0};
    int64_t repo_id;
    if (db_tx_begin(st->db, err) < 0)
        return -1;
    int rc = repo_find(st, repo, &repo_id, NULL, err) < 0 ||
                     repo_commit_change(st, repo_id, revision, path, 0, message,
                                        commit, &dead, err) < 0
                 ? -1
                 : 0;
    return repo_tx_finish(st, rc, &dead, err);
}

/* ---- lookup and listing
 * ------------------------------------------------------- */

static int lookup_locked(es_store *st, const char *repo, const char *revision,
                         const char *path, store_file *out, es_err *err)
{
    int64_t repo_id;
    char commit[41];
    if (repo_find(st, repo, &repo_id, NULL, err) < 0 ||
        resolve_rev(st, repo_id, revision, commit, err) < 0)
        return -1;
    sqlite3_stmt *s = db_prep(st->db,
                              "SELECT f.id, f.size, f.sha256, f.created, "
                              "f.state FROM tree_entries te JOIN files f ON "
                              "f.id = te.file_id WHERE te.commit_id = ? AND "
                              "te.path = ?",
                              err);
    if (!s)
        return -1;
    db_bind_text(s, 1, commit);
    db_bind_text(s, 2, path);
    int rc = db_step_row(st->db, s, err);
    if (rc == 1) {
        memset(out, 0, sizeof *out);
        out->file_id = sqlite3_column_int64(s, 0);
        out->size = (uint64_t)sqlite3_column_int64(s, 1);
        db_col_text(s, 2, out->sha256, sizeof out->sha256);
        out->mtime = sqlite3_column_int64(s, 3);
        db_col_text(s, 4, out->state, sizeof out->state);
        memcpy(out->commit, commit, 41);
    }
    sqlite3_reset(s);
    if (rc == 0)
        return es_errf(err, 404, "'%.200s' not found", path);
    return rc < 0 ? -1 : 0;
}

int store_file_lookup(es_store *st, const char *repo, const char *revision,
                      const char *path, store_file *out, es_err *err)
{
    if (check_repo_name(repo, err) < 0 || check_path(path, err) < 0)
        return -1;
    db_lock(st->db);
    int rc = lookup_locked(st, repo, revision, path, out, err);
    db_unlock(st->db);
    return rc;
}

/* {"zstd": decoded bytes, "float": ...} of a stored file's blocks. */
static json_t *codecs_json(es_store *st, int64_t file_id, es_err *err)
{
    sqlite3_stmt *s = db_prep(st->db,
                              "SELECT c.codec, sum(b.raw_len) FROM file_blocks "
                              "b JOIN chunks c ON c.id = b.chunk_id WHERE "
                              "b.file_id = ? GROUP BY c.codec",
                              err);
    if (!s)
        return NULL;
    db_bind_i64(s, 1, file_id);
    json_t *obj = json_object();
    int rc;
    while ((rc = db_step_row(st->db, s, err)) == 1)
        json_object_set_new(
            obj, elves_codec_name((elves_codec)sqlite3_column_int(s, 0)),
            json_integer(sqlite3_column_int64(s, 1)));
    sqlite3_reset(s);
    if (rc < 0) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

/* Bytes the file's distinct chunks take in the chunk store. */
static int file_chunk_bytes(es_store *st, int64_t file_id, int64_t *out,
                            es_err *err)
{
    sqlite3_stmt *s = db_prep(st->db,
                              "SELECT coalesce(sum(length), 0) FROM chunks "
                              "WHERE id IN (SELECT chunk_id FROM file_blocks "
                              "WHERE file_id = ?)",
                              err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, file_id);
    int rc = db_step_row(st->db, s, err);
    *out = rc == 1 ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    return rc < 0 ? -1 : 0;
}

/* One listing row; the statement is positioned on it. */
static json_t *file_row_json(es_store *st, sqlite3_stmt *s, es_err *err)
{
    int64_t id = sqlite3_column_int64(s, 1);
    const char *state = (const char *)sqlite3_column_text(s, 4);
    int stored = strcmp(state, "stored") == 0;
    int64_t stored_bytes = sqlite3_column_int64(s, 5); /* spool bytes */
    json_t *codecs = stored ? codecs_json(st, id, err) : json_object();
    if (!codecs)
        return NULL;
    if (stored && file_chunk_bytes(st, id, &stored_bytes, err) < 0) {
        json_decref(codecs);
        return NULL;
    }
    json_t *f =
        json_pack("{s:s, s:I, s:s, s:I, s:s, s:o}", "path",
                  (const char *)sqlite3_column_text(s, 0), "size",
                  (json_int_t)sqlite3_column_int64(s, 2), "sha256",
                  (const char *)sqlite3_column_text(s, 3), "stored_bytes",
                  (json_int_t)stored_bytes, "state", state, "codecs", codecs);
    if (f && sqlite3_column_type(s, 6) != SQLITE_NULL)
        json_object_set_new(
            f, "error", json_string((const char *)sqlite3_column_text(s, 6)));
    return f;
}

static int list_locked(es_store *st, const char *repo, const char *revision,
                       json_t *list, es_err *err)
{
    int64_t repo_id;
    char commit[41];
    if (repo_find(st, repo, &repo_id, NULL, err) < 0 ||
        resolve_rev(st, repo_id, revision, commit, err) < 0)
        return -1;
    sqlite3_stmt *s = db_prep(st->db,
                              "SELECT te.path, f.id, f.size, f.sha256, "
                              "f.state, f.upload_size, f.error FROM "
                              "tree_entries te JOIN files f ON f.id = "
                              "te.file_id WHERE te.commit_id = ? ORDER BY "
                              "te.path",
                              err);
    if (!s)
        return -1;
    db_bind_text(s, 1, commit);
    int rc;
    while ((rc = db_step_row(st->db, s, err)) == 1) {
        json_t *f = file_row_json(st, s, err);
        if (!f) {
            rc = -1;
            break;
        }
        json_array_append_new(list, f);
    }
    sqlite3_reset(s);
    return rc < 0 ? -1 : 0;
}

int store_file_list(es_store *st, const char *repo, const char *revision,
                    json_t **out, es_err *err)
{
    if (check_repo_name(repo, err) < 0)
        return -1;
    json_t *list = json_array();
    db_lock(st->db);
    int rc = list_locked(st, repo, revision, list, err);
    db_unlock(st->db);
    if (rc < 0) {
        json_decref(list);
        return -1;
    }
    *out = list;
    return 0;
}
