/*
 * stats.c - storage statistics (store_stats).
 *
 * Definitions (also in api.md through the HTTP layer):
 *   logical_bytes  sum of the sizes of the file versions that branch and tag
 *                  heads list, counted once per repository that lists them:
 *                  what clients could download.  History that no head
 *                  lists is not kept, so it is not counted.
 *   chunk_bytes    encoded bytes of the live chunks (refcount > 0), each
 *                  counted once however many files share it.
 *   spool_bytes    bytes of spool files (uploads not yet compressed, or
 *                  whose compression failed).
 *   stored_bytes   chunk_bytes + spool_bytes: what the data takes on disk,
 *                  pack overhead and not yet compacted garbage aside
 *                  (pack_bytes gives the packs' real size).
 *   ratio          logical_bytes / stored_bytes, as "1.27x" reads (0 when
 *                  nothing is stored);
 *                  lower is better.
 *   dedup_saved_bytes  encoded bytes that listed files reference minus
 *                  chunk_bytes: what dedup (same file, same tensor) saved.
 *   delta_logical_bytes  bytes of the listed files' tensors that are
 *                  delta-coded against a base tensor (model families).
 *   delta_stored_bytes   encoded bytes of those tensors, each once.
 *   delta_saved_bytes    what coding them alone would have taken (the
 *                  order-0 bound recorded at ingest, tensors.alone_bytes)
 *                  minus delta_stored_bytes: an estimate, within the few
 *                  percent the FLOAT codec stays above that bound.
 * Per repository the same figures cover the files its heads list; chunks
 * shared with other repositories count in each, so per-repo stored bytes
 * may add up to more than the total.
 */
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

static json_t *figures_json(const meta_figures *f)
{
    int64_t stored = f->chunk + f->spool;
    int64_t saved = f->referenced - f->chunk;
    int64_t dsaved = f->delta_alone - f->delta_stored;
    return json_pack(
        "{s:I, s:I, s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:I}", "logical_bytes",
        (json_int_t)f->logical, "stored_bytes", (json_int_t)stored,
        "chunk_bytes", (json_int_t)f->chunk, "spool_bytes",
        (json_int_t)f->spool, "ratio",
        stored ? (double)f->logical / (double)stored : 0.0,
        "dedup_saved_bytes", (json_int_t)(saved > 0 ? saved : 0), "files",
        (json_int_t)f->files, "delta_logical_bytes",
        (json_int_t)f->delta_logical, "delta_stored_bytes",
        (json_int_t)f->delta_stored, "delta_saved_bytes",
        (json_int_t)(dsaved > 0 ? dsaved : 0));
}

static json_t *repo_figures(meta_tx *tx, int64_t repo_id, const char *name,
                            es_err *err)
{
    meta_figures f;
    if (meta_figures_get(tx, repo_id, &f, err) < 0)
        return NULL;
    json_t *j = figures_json(&f);
    if (j)
        json_object_set_new(j, "name", json_string(name));
    return j;
}

typedef struct repos_walk {
    meta_tx *tx;
    json_t *arr;
    es_err *err;
} repos_walk;

static int add_repo(void *ctx, const meta_repo *r)
{
    repos_walk *w = ctx;
    json_t *j = repo_figures(w->tx, r->id, r->name, w->err);
    if (!j)
        return -1;
    json_array_append_new(w->arr, j);
    return 0;
}

static int pack_bytes_cb(void *ctx, const chunk_container *c)
{
    *(int64_t *)ctx += (int64_t)c->bytes;
    return 0;
}

static json_t *stats_tx(meta_tx *tx, const char *repo, es_err *err)
{
    if (repo) {
        meta_repo r;
        int found = meta_repo_find(tx, repo, &r, err);
        if (found == 0)
            es_errf(err, 404, "repository '%s' not found", repo);
        return found == 1 ? repo_figures(tx, r.id, repo, err) : NULL;
    }
    meta_figures f;
    if (meta_figures_get(tx, -1, &f, err) < 0)
        return NULL;
    json_t *j = figures_json(&f);
    repos_walk w = {tx, json_array(), err};
    if (!j || !w.arr || meta_repo_each(tx, add_repo, &w, err) != 0) {
        json_decref(j);
        json_decref(w.arr);
        return NULL;
    }
    json_object_set_new(j, "repos", w.arr);
    return j;
}

int store_stats(es_store *st, const char *repo, json_t **out, es_err *err)
{
    if (repo && !store_repo_name_valid(repo))
        return es_errf(err, 400, "invalid repository name '%.100s'", repo);
    meta_tx *tx;
    if (meta_begin(st->meta, META_READ, &tx, err) < 0)
        return -1;
    json_t *j = stats_tx(tx, repo, err);
    meta_end(tx, 0, err);
    if (!j)
        return -1;
    if (!repo) {
        int64_t packs = 0;
        es_err ignored;
        chunkstore_iterate(&st->cs, pack_bytes_cb, &packs, &ignored);
        json_object_set_new(j, "pack_bytes", json_integer(packs));
    }
    *out = j;
    return 0;
}
