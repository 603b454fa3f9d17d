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
    char *copy = strdup(name);
    if (!copy || vec_push(&l->names, &copy) < 0) {
        free(copy);
        return -1;
    }
    return 0;
}

static void name_list_free(name_list *l)
{
    for (size_t i = 0; i < l->names.n; i++)
        free(VEC_AT(&l->names, char *, i));
    vec_free(&l->names);
    l->released = 0;
}

static void name_list_unlink_spools(es_store *st, name_list *l)
{
    for (size_t i = 0; i < l->names.n; i++)
        spool_remove(st, VEC_AT(&l->names, char *, i));
    name_list_free(l);
}

int repo_tx_finish(es_store *st, meta_tx *tx, int rc, name_list *dead,
                   es_err *err)
{
    if (rc < 0) {
        meta_rollback(tx);
        name_list_free(dead);
        return -1;
    }
    if (meta_commit(tx, err) < 0) { /* rolled back */
        name_list_free(dead);
        return -1;
    }
    size_t released = dead->released;
    name_list_unlink_spools(st, dead);
    if (released)
        jobs_request_gc(st);
    return 0;
}

/* ---- repositories ----------------------------------------------------------
 */

int insert_commit(meta_tx *tx, int64_t repo_id, const char *parent,
                  const char *message, char id[41], es_err *err)
{
    if (es_random_hex(id, 20, err) < 0)
        return -1;
    return meta_commit_insert(tx, id, repo_id, parent, message, es_now(), err);
}

static int create_tx(meta_tx *tx, const char *name, const char *mode,
                     es_err *err)
{
    int64_t id = 0;
    char commit[41];
    if (meta_repo_insert(tx, name, mode, es_now(), &id, err) < 0 ||
        insert_commit(tx, id, NULL, "Initial commit", commit, err) < 0)
        return -1;
    return meta_ref_insert(tx, id, DEFAULT_BRANCH, "branch", commit, err);
}

int store_repo_create(es_store *st, const char *name, const char *mode,
                      json_t **out, es_err *err)
{
    if (repo_name_check(name, err) < 0)
        return -1;
    if (!mode)
        mode = "lossless";
    if (!store_mode_valid(mode))
        return es_errf(err, 400, "mode must be \"lossless\" or \"elf\"");
    meta_tx *tx;
    if (meta_begin(st->meta, META_WRITE, &tx, err) < 0 ||
        meta_end(tx, create_tx(tx, name, mode, err), err) < 0)
        return -1;
    return store_repo_get(st, name, out, err);
}

int store_repo_set_base(es_store *st, const char *name, const char *base,
                        es_err *err)
{
    meta_tx *tx;
    int64_t id;
    char mode[16];
    if (repo_name_check(name, err) < 0)
        return -1;
    if (base && base[0] && !store_base_spec_valid(base))
        return es_errf(err, 400,
                       "base must be \"org/name\" or \"org/name@revision\"");
    if (meta_begin(st->meta, META_WRITE, &tx, err) < 0)
        return -1;
    int rc = repo_find(tx, name, &id, mode, err);
    if (rc == 0)
        rc = meta_repo_base_set(tx, id, base, err);
    return meta_end(tx, rc, err);
}

static int add_ref(void *ctx, const char *name, const char *commit)
{
    return json_object_set_new(ctx, name, json_string(commit)) < 0 ? -1 : 0;
}

/* {"main": "<commit>", ...} for one kind of ref. */
static json_t *refs_json(meta_tx *tx, int64_t repo_id, const char *kind,
                         es_err *err)
{
    json_t *obj = json_object();
    if (obj && meta_ref_each(tx, repo_id, kind, add_ref, obj, err) != 0) {
        if (!err->msg[0])
            es_errf(err, 500, "out of memory");
        json_decref(obj);
        return NULL;
    }
    return obj;
}

static json_t *repo_json(meta_tx *tx, const meta_repo *row, es_err *err)
{
    json_t *r = json_pack("{s:s, s:s, s:I}", "name", row->name, "mode",
                          row->mode, "created", (json_int_t)row->created);
    json_t *branches = refs_json(tx, row->id, "branch", err);
    json_t *tags = branches ? refs_json(tx, row->id, "tag", err) : NULL;
    if (!r || !branches || !tags) {
        json_decref(r);
        json_decref(branches);
        json_decref(tags);
        return NULL;
    }
    json_object_set_new(r, "branches", branches);
    json_object_set_new(r, "tags", tags);
    char base[256];
    int has = meta_repo_base_get(tx, row->id, base, err);
    if (has < 0) {
        json_decref(r);
        return NULL;
    }
    json_object_set_new(r, "base", has ? json_string(base) : json_null());
    return r;
}

int store_repo_get(es_store *st, const char *name, json_t **out, es_err *err)
{
    if (repo_name_check(name, err) < 0)
        return -1;
    meta_tx *tx;
    meta_repo row;
    if (meta_begin(st->meta, META_READ, &tx, err) < 0)
        return -1;
    int rc = meta_repo_find(tx, name, &row, err);
    if (rc == 0)
        rc = es_errf(err, 404, "repository '%s' not found", name);
    else if (rc == 1) {
        *out = repo_json(tx, &row, err);
        rc = *out ? 0 : -1;
    }
    return meta_end(tx, rc, err);
}

typedef struct list_walk {
    meta_tx *tx;
    json_t *list;
    es_err *err;
} list_walk;

static int add_repo(void *ctx, const meta_repo *row)
{
    list_walk *w = ctx;
    json_t *r = repo_json(w->tx, row, w->err);
    if (!r)
        return -1;
    json_array_append_new(w->list, r);
    return 0;
}

int store_repo_list(es_store *st, json_t **out, es_err *err)
{
    meta_tx *tx;
    if (meta_begin(st->meta, META_READ, &tx, err) < 0)
        return -1;
    list_walk w = {tx, json_array(), err};
    int rc = meta_end(tx, meta_repo_each(tx, add_repo, &w, err) != 0 ? -1 : 0,
                      err);
    if (rc < 0) {
        json_decref(w.list);
        return -1;
    }
    *out = w.list;
    return 0;
}

/* ---- releasing file versions ------------------------------------------------
 */

/* Deletes file_id if no branch or tag head lists it any more. */
int release_if_dead(meta_tx *tx, int64_t file_id, name_list *dead,
                    es_err *err)
{
    int live = meta_file_listed(tx, file_id, err);
    if (live != 0)
        return live < 0 ? -1 : 0;
    char spool[META_SPOOL_NAME_MAX];
    if (meta_file_delete(tx, file_id, es_now(), spool, err) < 0)
        return -1;
    if (spool[0] && name_list_add(dead, spool) < 0)
        return es_errf(err, 500, "out of memory");
    dead->released++;
    return 0;
}

/* ---- commits ----------------------------------------------------------------
 */

int branch_head(meta_tx *tx, int64_t repo_id, const char *branch,
                char head[41], es_err *err)
{
    meta_ref ref;
    int rc = meta_ref_get(tx, repo_id, branch, &ref, err);
    if (rc < 0)
        return -1;
    if (rc == 0)
        return es_errf(err, 404, "branch '%.100s' not found", branch);
    if (strcmp(ref.kind, "branch") != 0)
        return es_errf(err, 400, "'%.100s' is a tag, not a branch", branch);
    memcpy(head, ref.commit, 41);
    return 0;
}

int store_branch_check(es_store *st, const char *repo, const char *revision,
                       es_err *err)
{
    const char *branch = revision && *revision ? revision : DEFAULT_BRANCH;
    int64_t repo_id;
    char head[41];
    meta_tx *tx;
    if (meta_begin(st->meta, META_READ, &tx, err) < 0)
        return -1;
    int rc = repo_find(tx, repo, &repo_id, NULL, err) < 0 ||
                     branch_head(tx, repo_id, branch, head, err) < 0
                 ? -1
                 : 0;
    return meta_end(tx, rc, err);
}

/* A file may not sit where a directory is, nor under a file. */
int check_no_clash(meta_tx *tx, const char *commit, const char *path,
                   es_err *err)
{
    char prefix[1100];
    for (const char *p = strchr(path, '/'); p; p = strchr(p + 1, '/')) {
        int64_t id;
        snprintf(prefix, sizeof prefix, "%.*s", (int)(p - path), path);
        if (meta_entry_get(tx, commit, prefix, &id, err) < 0)
            return -1;
        if (id)
            return es_errf(err, 409, "'%.200s' is a file", prefix);
    }
    int rc = meta_entry_under(tx, commit, path, err);
    if (rc < 0)
        return -1;
    if (rc == 1)
        return es_errf(err, 409, "'%.200s' is a directory", path);
    return 0;
}

int repo_commit_change(meta_tx *tx, int64_t repo_id, const char *revision,
                       const char *path, int64_t file_id, const char *message,
                       char commit_out[41], name_list *dead, es_err *err)
{
    const char *branch = revision && *revision ? revision : DEFAULT_BRANCH;
    char head[41];
    int64_t old_file;
    if (branch_head(tx, repo_id, branch, head, err) < 0 ||
        meta_entry_get(tx, head, path, &old_file, err) < 0)
        return -1;
    if (!file_id && !old_file)
        return es_errf(err, 404, "'%.200s' not found on '%.100s'", path,
                       branch);
    if (file_id && !old_file && check_no_clash(tx, head, path, err) < 0)
        return -1;
    if (insert_commit(tx, repo_id, head, message, commit_out, err) < 0 ||
        meta_entries_copy(tx, head, commit_out, path, err) < 0 ||
        (file_id && meta_entry_add(tx, commit_out, path, file_id, err) < 0) ||
        meta_ref_move(tx, repo_id, branch, commit_out, err) < 0)
        return -1;
    if (old_file && release_if_dead(tx, old_file, dead, err) < 0)
        return -1;
    return 0;
}

/* ---- deleting
 * ---------------------------------------------------------------- */

static int collect_id(void *ctx, int64_t file_id)
{
    return vec_push(ctx, &file_id);
}

static int delete_repo_tx(meta_tx *tx, const char *name, name_list *dead,
                          es_err *err)
{
    int64_t repo_id;
    vec ids = VEC_INIT(int64_t);
    if (repo_find(tx, name, &repo_id, NULL, err) < 0)
        return -1;
    /* its file versions, read before the repo (and its refs) go */
    int rc = meta_repo_file_each(tx, repo_id, collect_id, &ids, err);
    if (rc > 0 || (rc < 0 && !err->msg[0]))
        rc = es_errf(err, 500, "out of memory");
    if (rc == 0)
        rc = meta_repo_delete(tx, repo_id, err);
    for (size_t i = 0; rc == 0 && i < ids.n; i++)
        rc = release_if_dead(tx, VEC_AT(&ids, int64_t, i), dead, err);
    vec_free(&ids);
    return rc;
}

int store_repo_delete(es_store *st, const char *name, es_err *err)
{
    if (repo_name_check(name, err) < 0)
        return -1;
    name_list dead = NAME_LIST_INIT;
    meta_tx *tx;
    if (meta_begin(st->meta, META_WRITE, &tx, err) < 0)
        return -1;
    return repo_tx_finish(st, tx, delete_repo_tx(tx, name, &dead, err), &dead,
                          err);
}

int store_file_delete(es_store *st, const char *repo, const char *revision,
                      const char *path, es_err *err)
{
    if (repo_name_check(repo, err) < 0 || path_check(path, err) < 0)
        return -1;
    char message[1100], commit[41];
    snprintf(message, sizeof message, "Delete %s", path);
    name_list dead = NAME_LIST_INIT;
    int64_t repo_id;
    meta_tx *tx;
    if (meta_begin(st->meta, META_WRITE, &tx, err) < 0)
        return -1;
    int rc = repo_find(tx, repo, &repo_id, NULL, err) < 0 ||
                     repo_commit_change(tx, repo_id, revision, path, 0, message,
                                        commit, &dead, err) < 0
                 ? -1
                 : 0;
    return repo_tx_finish(st, tx, rc, &dead, err);
}

/* ---- lookup and listing
 * ------------------------------------------------------- */

static int add_codec(void *ctx, int codec, int64_t bytes)
{
    return json_object_set_new(ctx, elves_codec_name((elves_codec)codec),
                               json_integer(bytes)) < 0
               ? -1
               : 0;
}

typedef struct files_walk {
    meta_tx *tx;
    json_t *list;
    es_err *err;
} files_walk;

/* "delta": {"base","segments","bytes"} for a file with delta-coded
 * tensors (base "" once no repository lists the base any more), else
 * null. */
static int add_delta(files_walk *w, int64_t file_id, json_t *j)
{
    int64_t segments = 0, bytes = 0;
    char base[200];
    if (meta_file_delta_get(w->tx, file_id, &segments, &bytes, base, w->err) <
        0)
        return -1;
    json_object_set_new(j, "delta",
                        segments ? json_pack("{s:s, s:I, s:I}", "base", base,
                                             "segments", (json_int_t)segments,
                                             "bytes", (json_int_t)bytes)
                                 : json_null());
    return 0;
}

/* One listing row: {"path","size","sha256","stored_bytes","state",
 * "codecs","delta","error"?}. */
static int add_file(void *ctx, const meta_entry *e)
{
    files_walk *w = ctx;
    const meta_file *f = &e->file;
    int stored = strcmp(f->state, "stored") == 0;
    int64_t stored_bytes = (int64_t)f->upload_size; /* spool bytes */
    json_t *codecs = json_object();
    if (!codecs)
        return es_errf(w->err, 500, "out of memory");
    if (stored &&
        (meta_file_codec_each(w->tx, f->id, add_codec, codecs, w->err) != 0 ||
         meta_file_chunk_bytes(w->tx, f->id, &stored_bytes, w->err) < 0)) {
        json_decref(codecs);
        return -1;
    }
    json_t *j = json_pack("{s:s, s:I, s:s, s:I, s:s, s:o}", "path", e->path,
                          "size", (json_int_t)f->size, "sha256", f->sha256,
                          "stored_bytes", (json_int_t)stored_bytes, "state",
                          f->state, "codecs", codecs);
    if (!j)
        return es_errf(w->err, 500, "out of memory");
    if (f->has_error)
        json_object_set_new(j, "error", json_string(f->error));
    if (!stored)
        json_object_set_new(j, "delta", json_null());
    else if (add_delta(w, f->id, j) < 0) {
        json_decref(j);
        return -1;
    }
    json_array_append_new(w->list, j);
    return 0;
}

static int list_tx(meta_tx *tx, const char *repo, const char *revision,
                   json_t *list, es_err *err)
{
    int64_t repo_id;
    char commit[41];
    if (repo_find(tx, repo, &repo_id, NULL, err) < 0 ||
        resolve_rev(tx, repo_id, revision, commit, err) < 0)
        return -1;
    files_walk w = {tx, list, err};
    return meta_entry_each(tx, commit, add_file, &w, err) != 0 ? -1 : 0;
}

int store_file_list(es_store *st, const char *repo, const char *revision,
                    json_t **out, es_err *err)
{
    if (repo_name_check(repo, err) < 0)
        return -1;
    json_t *list = json_array();
    meta_tx *tx;
    if (!list || meta_begin(st->meta, META_READ, &tx, err) < 0) {
        json_decref(list);
        return -1;
    }
    if (meta_end(tx, list_tx(tx, repo, revision, list, err), err) < 0) {
        json_decref(list);
        return -1;
    }
    *out = list;
    return 0;
}
