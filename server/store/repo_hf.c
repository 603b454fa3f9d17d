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

static int load_repo(meta_tx *tx, const char *name, hf_repo *out, es_err *err)
{
    meta_hf_repo r;
    int rc = meta_hf_repo_get(tx, name, &r, err);
    if (rc == 0)
        return es_errf(err, 404, "repository '%.100s' not found", name);
    if (rc < 0)
        return -1;
    memset(out, 0, sizeof *out);
    out->id = r.id;
    memcpy(out->mode, r.mode, sizeof out->mode);
    memcpy(out->type, r.type, sizeof out->type);
    out->is_private = r.is_private;
    snprintf(out->name, sizeof out->name, "%s", name);
    return 0;
}

int store_hf_repo(es_store *st, const char *name, hf_repo *out, es_err *err)
{
    if (!store_repo_name_valid(name))
        return es_errf(err, 404, "repository '%.100s' not found",
                       name ? name : "");
    meta_tx *tx;
    if (meta_begin(st->meta, META_READ, &tx, err) < 0)
        return -1;
    return meta_end(tx, load_repo(tx, name, out, err), err);
}

static int settings_tx(meta_tx *tx, const char *name, const char *type,
                       int is_private, es_err *err)
{
    meta_repo r;
    int rc = meta_repo_find(tx, name, &r, err);
    if (rc <= 0)
        return rc < 0 ? -1
                      : es_errf(err, 404, "repository '%s' not found", name);
    return meta_hf_repo_settings(tx, r.id, type, is_private, "false", err);
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
    meta_tx *tx;
    if (meta_begin(st->meta, META_WRITE, &tx, err) < 0)
        return -1;
    return meta_end(tx, settings_tx(tx, name, type, is_private, err), err);
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

static int resolve_tx(meta_tx *tx, const hf_repo *r, const char *rev,
                      hf_rev *out, es_err *err)
{
    if (resolve_rev(tx, r->id, hub_ref_name(rev), out->commit, err) < 0)
        return -1;
    int rc = meta_commit_get(tx, out->commit, &out->created, out->message, err);
    if (rc == 0)
        return es_errf(err, 404, "commit %s not found", out->commit);
    return rc < 0 ? -1 : 0;
}

int store_hf_resolve(es_store *st, const hf_repo *r, const char *rev,
                     hf_rev *out, es_err *err)
{
    memset(out, 0, sizeof *out);
    meta_tx *tx;
    if (meta_begin(st->meta, META_READ, &tx, err) < 0)
        return -1;
    int rc = meta_end(tx, resolve_tx(tx, r, rev, out, err), err);
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

/* The listing keeps a typed array for its many readers (hf/); a vec over
 * that same array does the growing. */
int hf_file_list_add(hf_file_list *l, const hf_file *f)
{
    hf_file copy = *f;
    copy.path = strdup(f->path);
    vec v = {l->items, l->n, l->cap, sizeof *l->items};
    if (!copy.path || vec_push(&v, &copy) < 0) {
        free(copy.path);
        return -1;
    }
    l->items = v.items;
    l->n = v.n;
    l->cap = v.cap;
    return 0;
}

int hf_file_list_add_entry(hf_file_list *l, const meta_hf_entry *e)
{
    hf_file f = {0};
    f.path = (char *)e->path;
    f.size = e->size;
    memcpy(f.sha256, e->sha256, sizeof f.sha256);
    memcpy(f.git_sha1, e->git_sha1, sizeof f.git_sha1);
    f.file_id = e->file_id;
    return hf_file_list_add(l, &f);
}

static int add_entry(void *ctx, const meta_hf_entry *e)
{
    return hf_file_list_add_entry(ctx, e);
}

int store_hf_files(es_store *st, const char *commit, hf_file_list *out,
                   es_err *err)
{
    memset(out, 0, sizeof *out);
    meta_tx *tx;
    if (meta_begin(st->meta, META_READ, &tx, err) < 0)
        return -1;
    int rc = meta_hf_entry_each(tx, commit, add_entry, out, err);
    if (rc > 0)
        rc = es_errf(err, 500, "out of memory");
    rc = meta_end(tx, rc, err);
    if (rc < 0)
        hf_file_list_free(out);
    return rc < 0 ? -1 : 0;
}

/* ---- objects ---------------------------------------------------------------- */

int store_hf_object_find(es_store *st, const hf_repo *r, const char *sha256,
                         uint64_t size, int64_t *file_id, es_err *err)
{
    meta_tx *tx;
    if (meta_begin(st->meta, META_READ, &tx, err) < 0)
        return -1;
    return meta_end(
        tx, meta_object_find(tx, sha256, size, r->mode, file_id, err), err);
}

/* In a transaction: the existing object, or a new file row + job.
 * *is_new tells which (the spool file is kept only if new). */
static int object_tx(meta_tx *tx, const hf_repo *r, const char *name,
                     const char *sha, uint64_t size, const char *git_sha1,
                     int64_t *file_id, int *is_new, es_err *err)
{
    char label[96];
    int64_t job_id;
    int rc = meta_object_find(tx, sha, size, r->mode, file_id, err);
    *is_new = rc == 0;
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    snprintf(label, sizeof label, "objects/%s", sha);
    if (spool_record_file(tx, r->name, label, name, sha, size, r->mode,
                          file_id, &job_id, err) < 0)
        return -1;
    return git_sha1 ? meta_blob_add(tx, *file_id, git_sha1, err) : 0;
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
    meta_tx *tx;
    if (spool_seal(sp, sha, &size, name, err) < 0 ||
        check_expected(expect_sha256, expect_size, sha, size, err) < 0 ||
        meta_begin(st->meta, META_WRITE, &tx, err) < 0) {
        spool_release(sp, 1);
        return -1;
    }
    if (meta_end(tx,
                 object_tx(tx, r, name, sha, size, git_sha1, file_id, &is_new,
                           err),
                 err) < 0) {
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

_Static_assert(HF_SIZE_ANY == META_SIZE_ANY, "a copy's size is meta's any");

static int put_entry(meta_tx *tx, const char *commit, const char *path,
                     int64_t file_id, es_err *err)
{
    if (meta_entry_delete(tx, commit, path, err) < 0 ||
        check_no_clash(tx, commit, path, err) < 0)
        return -1;
    return meta_entry_add(tx, commit, path, file_id, err);
}

static int apply_op(meta_tx *tx, const hf_repo *r, const char *commit,
                    const hf_op *op, es_err *err)
{
    int64_t file_id = op->file_id;
    int rc;
    if (!store_path_valid(op->path))
        return es_errf(err, 400, "invalid path '%.200s'", op->path);
    switch (op->kind) {
    case HF_OP_PUT_LFS:
        rc = meta_object_find(tx, op->sha256, op->size, r->mode, &file_id,
                              err);
        if (rc == 0 && op->size == HF_SIZE_ANY)
            return es_errf(err, 400,
                           "lfsFile '%.200s': object %s was never uploaded",
                           op->path, op->sha256);
        if (rc == 0)
            return es_errf(err, 400,
                           "lfsFile '%.200s': object %s (%llu bytes) was "
                           "never uploaded",
                           op->path, op->sha256,
                           (unsigned long long)op->size);
        return rc < 0 ? -1 : put_entry(tx, commit, op->path, file_id, err);
    case HF_OP_PUT:
        return put_entry(tx, commit, op->path, file_id, err);
    case HF_OP_DELETE_FILE:
        rc = meta_entry_delete(tx, commit, op->path, err);
        break;
    case HF_OP_DELETE_FOLDER:
        rc = meta_entry_delete_under(tx, commit, op->path, err);
        break;
    default:
        return es_errf(err, 400, "unknown operation");
    }
    if (rc == 0)
        return es_errf(err, 404, "'%.200s' not found", op->path);
    return rc < 0 ? -1 : 0;
}

static int commit_tx(meta_tx *tx, const hf_repo *r, const char *branch,
                     const char *parent, const char *message,
                     const hf_op *ops, size_t n, char out[41], es_err *err)
{
    char head[41];
    if (branch_head(tx, r->id, branch, head, err) < 0)
        return -1;
    if (parent && *parent && strcmp(parent, head) != 0)
        return es_errf(err, 412,
                       "parentCommit %.40s is not the head of '%.100s' (%s)",
                       parent, branch, head);
    if (insert_commit(tx, r->id, head, message, out, err) < 0 ||
        meta_entries_copy(tx, head, out, NULL, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (apply_op(tx, r, out, &ops[i], err) < 0)
            return -1;
    return meta_ref_move(tx, r->id, branch, out, err);
}

int store_hf_commit(es_store *st, const hf_repo *r, const char *branch,
                    const char *parent, const char *message, const hf_op *ops,
                    size_t n, char commit_out[41], es_err *err)
{
    meta_tx *tx;
    if (meta_begin(st->meta, META_WRITE, &tx, err) < 0)
        return -1;
    return meta_end(tx,
                    commit_tx(tx, r, hub_ref_name(branch), parent, message,
                              ops, n, commit_out, err),
                    err);
}

