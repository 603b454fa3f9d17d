/*
 * repo_hf.c - the store functions behind the Hugging Face compatible API
 * (store_hf.h): Hub settings of repositories and their renames, revision
 * names, branches, tags and history, a commit's file list,
 * content-addressed objects and multi-file commits.
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
    memcpy(out->gated, r.gated, sizeof out->gated);
    out->is_private = r.is_private;
    out->created = r.created;
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

static int gated_valid(const char *g)
{
    return strcmp(g, "false") == 0 || strcmp(g, "auto") == 0 ||
           strcmp(g, "manual") == 0;
}

static int update_settings_tx(meta_tx *tx, const hf_repo *r, int is_private,
                              const char *gated, es_err *err)
{
    hf_repo now;
    if (load_repo(tx, r->name, &now, err) < 0)
        return -1;
    return meta_hf_repo_settings(tx, now.id, now.type,
                                 is_private < 0 ? now.is_private : is_private,
                                 gated ? gated : now.gated, err);
}

int store_hf_settings(es_store *st, const hf_repo *r, int is_private,
                      const char *gated, es_err *err)
{
    if (gated && !gated_valid(gated))
        return es_errf(err, 400,
                       "gated must be false, \"auto\" or \"manual\"");
    meta_tx *tx;
    if (meta_begin(st->meta, META_WRITE, &tx, err) < 0)
        return -1;
    return meta_end(tx, update_settings_tx(tx, r, is_private, gated, err),
                    err);
}

static int move_tx(meta_tx *tx, const char *from, const char *to,
                   es_err *err)
{
    meta_repo r;
    int rc = meta_repo_find(tx, from, &r, err);
    if (rc <= 0)
        return rc < 0 ? -1
                      : es_errf(err, 404, "repository '%.100s' not found",
                                from);
    return meta_repo_rename(tx, r.id, to, err);
}

int store_hf_repo_move(es_store *st, const char *from, const char *to,
                       es_err *err)
{
    if (!store_repo_name_valid(from))
        return es_errf(err, 404, "repository '%.100s' not found",
                       from ? from : "");
    if (!store_repo_name_valid(to))
        return es_errf(err, 400, "invalid repository name '%.100s'",
                       to ? to : "");
    meta_tx *tx;
    if (meta_begin(st->meta, META_WRITE, &tx, err) < 0)
        return -1;
    return meta_end(tx, move_tx(tx, from, to, err), err);
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

typedef struct repo_walk {
    meta_tx *tx;
    int (*fn)(void *ctx, const hf_repo *r, const hf_rev *main);
    void *ctx;
    es_err *err;
} repo_walk;

static int walk_repo(void *ctx, const meta_repo *row)
{
    repo_walk *w = ctx;
    hf_repo r;
    hf_rev main;
    memset(&main, 0, sizeof main);
    if (load_repo(w->tx, row->name, &r, w->err) < 0 ||
        resolve_tx(w->tx, &r, "main", &main, w->err) < 0)
        return -1;
    return w->fn(w->ctx, &r, &main);
}

int store_hf_repo_each(es_store *st,
                       int (*fn)(void *ctx, const hf_repo *r,
                                 const hf_rev *main),
                       void *ctx, es_err *err)
{
    meta_tx *tx;
    if (meta_begin(st->meta, META_READ, &tx, err) < 0)
        return -1;
    repo_walk w = {tx, fn, ctx, err};
    int rc = meta_repo_each(tx, walk_repo, &w, err);
    if (rc > 0 && !err->status)
        es_errf(err, 500, "out of memory");
    meta_end(tx, rc == 0 ? 0 : -1, err);
    return rc;
}

/* ---- branches and tags ------------------------------------------------------ */

static int is_hex40(const char *s)
{
    size_t n = strspn(s, "0123456789abcdef");
    return n == 40 && s[40] == '\0';
}

static int ref_name_check(const char *name, es_err *err)
{
    size_t n = name ? strlen(name) : 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            n = 0;
    if (n == 0 || n > 200 || strcmp(name, "HEAD") == 0 || is_hex40(name) ||
        strncmp(name, "refs/", 5) == 0 || name[0] == '/' ||
        name[n - 1] == '/')
        return es_errf(err, 400, "invalid branch or tag name '%.100s'",
                       name ? name : "");
    return 0;
}

static int ref_create_tx(meta_tx *tx, const hf_repo *r, const char *kind,
                         const char *name, const char *from, int empty,
                         int overwrite, es_err *err)
{
    meta_ref have;
    char commit[41];
    int rc = meta_ref_get(tx, r->id, name, &have, err);
    if (rc < 0)
        return -1;
    if (rc == 1 && !(overwrite && strcmp(have.kind, "branch") == 0 &&
                     strcmp(kind, "branch") == 0))
        return es_errf(err, 409, "%s '%.100s' already exists",
                       strcmp(have.kind, "tag") == 0 ? "Tag" : "Branch",
                       name);
    if (empty) {
        if (insert_commit(tx, r->id, NULL, "Empty branch", commit, err) < 0)
            return -1;
    } else if (resolve_rev(tx, r->id, hub_ref_name(from), commit, err) < 0) {
        return es_errf(err, 404, "revision '%.100s' not found in '%.100s'",
                       from ? from : "main", r->name);
    }
    return rc == 1 ? meta_ref_move(tx, r->id, name, commit, err)
                   : meta_ref_insert(tx, r->id, name, kind, commit, err);
}

int store_hf_ref_create(es_store *st, const hf_repo *r, const char *kind,
                        const char *name, const char *from, int empty,
                        int overwrite, es_err *err)
{
    if (ref_name_check(name, err) < 0)
        return -1;
    meta_tx *tx;
    if (meta_begin(st->meta, META_WRITE, &tx, err) < 0)
        return -1;
    return meta_end(tx,
                    ref_create_tx(tx, r, kind, name, from,
                                  empty && strcmp(kind, "branch") == 0,
                                  overwrite, err),
                    err);
}

static int ref_delete_tx(meta_tx *tx, const hf_repo *r, const char *kind,
                         const char *name, es_err *err)
{
    meta_ref have;
    int rc = meta_ref_get(tx, r->id, name, &have, err);
    if (rc < 0)
        return -1;
    if (rc == 0 || strcmp(have.kind, kind) != 0)
        return es_errf(err, 404, "%s '%.100s' not found in '%.100s'",
                       strcmp(kind, "tag") == 0 ? "tag" : "branch", name,
                       r->name);
    return meta_ref_delete(tx, r->id, name, err) < 0 ? -1 : 0;
}

int store_hf_ref_delete(es_store *st, const hf_repo *r, const char *kind,
                        const char *name, es_err *err)
{
    if (strcmp(kind, "branch") == 0 && name && strcmp(name, "main") == 0)
        return es_errf(err, 400, "the default branch 'main' cannot be "
                                 "deleted");
    meta_tx *tx;
    if (meta_begin(st->meta, META_WRITE, &tx, err) < 0)
        return -1;
    return meta_end(tx, ref_delete_tx(tx, r, kind, name ? name : "", err),
                    err);
}

int store_hf_refs(es_store *st, const hf_repo *r, const char *kind,
                  int (*fn)(void *ctx, const char *name, const char *commit),
                  void *ctx, es_err *err)
{
    meta_tx *tx;
    if (meta_begin(st->meta, META_READ, &tx, err) < 0)
        return -1;
    int rc = meta_ref_each(tx, r->id, kind, fn, ctx, err);
    if (rc > 0 && !err->status)
        es_errf(err, 500, "out of memory");
    return meta_end(tx, rc == 0 ? 0 : -1, err);
}

/* ---- history ------------------------------------------------------------------ */

static int history_tx(meta_tx *tx, const hf_repo *r, const char *rev,
                      size_t skip, size_t limit,
                      int (*fn)(void *ctx, const hf_commit *c), void *ctx,
                      size_t *total, es_err *err)
{
    hf_commit c;
    meta_commit_row mc;
    size_t n = 0;
    if (resolve_rev(tx, r->id, hub_ref_name(rev), c.id, err) < 0)
        return -1;
    while (c.id[0] && n < HF_HISTORY_MAX) {
        int rc = meta_commit_info(tx, c.id, &mc, err);
        if (rc < 0)
            return -1;
        if (rc == 0) /* a parent pruned from history ends it */
            break;
        if (n >= skip && n - skip < limit) {
            memcpy(c.parent, mc.parent, sizeof c.parent);
            c.created = mc.created;
            c.message = mc.message;
            if (fn(ctx, &c) != 0)
                return es_errf(err, 500, "out of memory");
        }
        n++;
        memcpy(c.id, mc.parent, sizeof c.id);
    }
    *total = n;
    return 0;
}

int store_hf_history(es_store *st, const hf_repo *r, const char *rev,
                     size_t skip, size_t limit,
                     int (*fn)(void *ctx, const hf_commit *c), void *ctx,
                     size_t *total, es_err *err)
{
    meta_tx *tx;
    *total = 0;
    if (meta_begin(st->meta, META_READ, &tx, err) < 0)
        return -1;
    int rc = meta_end(
        tx, history_tx(tx, r, rev, skip, limit, fn, ctx, total, err), err);
    if (rc < 0 && err->status == 404)
        es_errf(err, 404, "revision '%.100s' not found in '%.100s'",
                rev ? rev : "", r->name);
    return rc;
}

static int squash_tx(meta_tx *tx, const hf_repo *r, const char *branch,
                     const char *message, char out[41], es_err *err)
{
    char head[41];
    if (branch_head(tx, r->id, branch, head, err) < 0 ||
        insert_commit(tx, r->id, NULL, message, out, err) < 0 ||
        meta_entries_copy(tx, head, out, NULL, err) < 0)
        return -1;
    return meta_ref_move(tx, r->id, branch, out, err);
}

int store_hf_squash(es_store *st, const hf_repo *r, const char *branch,
                    const char *message, char commit_out[41], es_err *err)
{
    meta_tx *tx;
    if (meta_begin(st->meta, META_WRITE, &tx, err) < 0)
        return -1;
    return meta_end(tx,
                    squash_tx(tx, r, hub_ref_name(branch), message,
                              commit_out, err),
                    err);
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

