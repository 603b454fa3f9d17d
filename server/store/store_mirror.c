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
    meta_tx *tx;
    if (meta_begin(st->meta, META_READ, &tx, err) < 0)
        return -1;
    return meta_end(tx, meta_mirror_pin_get(tx, key, rev, commit, fetched, err),
                    err);
}

int store_mirror_pin_set(es_store *st, const char *key, const char *rev,
                         const char *commit, es_err *err)
{
    meta_tx *tx;
    if (meta_begin(st->meta, META_WRITE, &tx, err) < 0)
        return -1;
    return meta_end(
        tx, meta_mirror_pin_set(tx, key, rev, commit, es_now(), err), err);
}

static int listing_append(void *ctx, const meta_hf_entry *e)
{
    hf_file_list *l = ctx;
    if (hf_file_list_add_entry(l, e) < 0)
        return -1;
    hf_file *f = &l->items[l->n - 1];
    if (!f->sha256[0]) /* regular file: a stable stand-in */
        snprintf(f->sha256, sizeof f->sha256, "%s%024d", f->git_sha1, 0);
    return 0;
}

static int listing_tx(meta_tx *tx, const char *key, const char *commit,
                      hf_file_list *out, int64_t *created, es_err *err)
{
    int rc = meta_mirror_commit_get(tx, key, commit, created, err);
    if (rc != 1)
        return rc;
    rc = meta_mirror_entry_each(tx, key, commit, listing_append, out, err);
    if (rc > 0)
        return es_errf(err, 500, "out of memory");
    return rc < 0 ? -1 : 1;
}

int store_mirror_listing(es_store *st, const char *key, const char *commit,
                         hf_file_list *out, int64_t *created, es_err *err)
{
    memset(out, 0, sizeof *out);
    meta_tx *tx;
    if (meta_begin(st->meta, META_READ, &tx, err) < 0)
        return -1;
    int rc = meta_end(tx, listing_tx(tx, key, commit, out, created, err), err);
    if (rc < 0)
        hf_file_list_free(out);
    return rc;
}

static int save_tx(meta_tx *tx, const char *key, const char *commit,
                   const hf_file_list *files, es_err *err)
{
    if (meta_mirror_commit_add(tx, key, commit, es_now(), err) < 0)
        return -1;
    for (size_t i = 0; i < files->n; i++) {
        const hf_file *f = &files->items[i];
        meta_hf_entry e = {.path = f->path, .size = f->size};
        memcpy(e.sha256, f->sha256, sizeof e.sha256);
        memcpy(e.git_sha1, f->git_sha1, sizeof e.git_sha1);
        if (meta_mirror_entry_add(tx, key, commit, &e, err) < 0)
            return -1;
    }
    return 0;
}

int store_mirror_save(es_store *st, const char *key, const char *commit,
                      const hf_file_list *files, es_err *err)
{
    meta_tx *tx;
    if (meta_begin(st->meta, META_WRITE, &tx, err) < 0)
        return -1;
    return meta_end(tx, save_tx(tx, key, commit, files, err), err);
}

int store_mirror_set_file(es_store *st, const char *key, const char *commit,
                          const char *path, int64_t file_id, es_err *err)
{
    meta_tx *tx;
    if (meta_begin(st->meta, META_WRITE, &tx, err) < 0)
        return -1;
    return meta_end(
        tx, meta_mirror_entry_fetched(tx, key, commit, path, file_id, err),
        err);
}

int store_file_by_id(es_store *st, int64_t file_id, const char *commit,
                     store_file *out, es_err *err)
{
    meta_tx *tx;
    meta_file f;
    if (meta_begin(st->meta, META_READ, &tx, err) < 0)
        return -1;
    int rc = meta_end(tx, meta_file_get(tx, file_id, &f, err), err);
    if (rc == 0)
        return es_errf(err, 404, "file version %lld is gone",
                       (long long)file_id);
    if (rc < 0)
        return -1;
    memset(out, 0, sizeof *out);
    out->file_id = file_id;
    out->size = f.size;
    memcpy(out->sha256, f.sha256, sizeof out->sha256);
    out->mtime = f.created;
    memcpy(out->state, f.state, sizeof out->state);
    snprintf(out->commit, sizeof out->commit, "%s", commit);
    return 0;
}
