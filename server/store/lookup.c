/*
 * lookup.c - names to rows inside a transaction: a repository by name, a
 * revision (branch, tag or commit id) to its commit, a path at a
 * revision to its file version (store_file_lookup).  Every store file
 * that is handed names uses these; they call only the metadata backend.
 */
#include "store_internal.h"

#include <string.h>

int path_check(const char *path, es_err *err)
{
    if (!store_path_valid(path))
        return es_errf(err, 400, "invalid path");
    return 0;
}

int repo_name_check(const char *name, es_err *err)
{
    if (!store_repo_name_valid(name))
        return es_errf(err, 400, "invalid repository name '%.100s'",
                       name ? name : "");
    return 0;
}

int repo_find(meta_tx *tx, const char *name, int64_t *id, char mode[16],
              es_err *err)
{
    if (repo_name_check(name, err) < 0)
        return -1;
    meta_repo r;
    int rc = meta_repo_find(tx, name, &r, err);
    if (rc <= 0)
        return rc < 0 ? -1
                      : es_errf(err, 404, "repository '%s' not found", name);
    *id = r.id;
    if (mode)
        memcpy(mode, r.mode, 16);
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
int resolve_rev(meta_tx *tx, int64_t repo_id, const char *rev,
                char commit[41], es_err *err)
{
    if (!rev || !*rev)
        rev = "main";
    meta_ref ref;
    int rc = meta_ref_get(tx, repo_id, rev, &ref, err);
    if (rc == 1) {
        memcpy(commit, ref.commit, 41);
        return 0;
    }
    if (rc < 0)
        return -1;
    if (is_commit_id(rev)) {
        rc = meta_commit_exists(tx, repo_id, rev, err);
        if (rc == 1) {
            memcpy(commit, rev, 41);
            return 0;
        }
        if (rc < 0)
            return -1;
    }
    return es_errf(err, 404, "revision '%.100s' not found", rev);
}

static int lookup_tx(meta_tx *tx, const char *repo, const char *revision,
                     const char *path, store_file *out, es_err *err)
{
    int64_t repo_id;
    char commit[41];
    meta_file f;
    if (repo_find(tx, repo, &repo_id, NULL, err) < 0 ||
        resolve_rev(tx, repo_id, revision, commit, err) < 0)
        return -1;
    int rc = meta_entry_file(tx, commit, path, &f, err);
    if (rc == 0)
        return es_errf(err, 404, "'%.200s' not found", path);
    if (rc < 0)
        return -1;
    memset(out, 0, sizeof *out);
    out->file_id = f.id;
    out->size = f.size;
    memcpy(out->sha256, f.sha256, sizeof out->sha256);
    out->mtime = f.created;
    memcpy(out->state, f.state, sizeof out->state);
    memcpy(out->commit, commit, 41);
    return 0;
}

int store_file_lookup(es_store *st, const char *repo, const char *revision,
                      const char *path, store_file *out, es_err *err)
{
    if (repo_name_check(repo, err) < 0 || path_check(path, err) < 0)
        return -1;
    meta_tx *tx;
    if (meta_begin(st->meta, META_READ, &tx, err) < 0)
        return -1;
    return meta_end(tx, lookup_tx(tx, repo, revision, path, out, err), err);
}
