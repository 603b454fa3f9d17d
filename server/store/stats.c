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
 * Per repository the same figures cover the files its heads list; chunks
 * shared with other repositories count in each, so per-repo stored bytes
 * may add up to more than the total.
 */
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

/* The (repo, file) pairs heads list; repo_id = -1 for all repositories. */
#define LIVE_PAIRS                                                             \
    "(SELECT DISTINCT r.repo_id AS repo_id, te.file_id AS file_id FROM refs "  \
    "r JOIN tree_entries te ON te.commit_id = r.commit_id WHERE ?1 < 0 OR "    \
    "r.repo_id = ?1)"

typedef struct figures {
    int64_t logical, chunk, spool, referenced, files;
} figures;

static int query_i64_repo(es_store *st, const char *sql, int64_t repo_id,
                          int64_t *out, es_err *err)
{
    sqlite3_stmt *s = db_prep(st->db, sql, err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, repo_id);
    int rc = db_step_row(st->db, s, err);
    *out = rc == 1 ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    return rc < 0 ? -1 : 0;
}

static int figures_get(es_store *st, int64_t repo_id, figures *f, es_err *err)
{
    static const char logical[] =
        "SELECT coalesce(sum(f.size), 0), count(*) FROM " LIVE_PAIRS
        " x JOIN files f ON f.id = x.file_id";
    static const char files[] =
        "SELECT count(DISTINCT file_id) FROM " LIVE_PAIRS;
    static const char spool[] =
        "SELECT coalesce(sum(f.upload_size), 0) FROM files f WHERE f.spool IS "
        "NOT NULL AND f.id IN (SELECT file_id FROM " LIVE_PAIRS ")";
    static const char referenced[] =
        "SELECT coalesce(sum(c.length), 0) FROM " LIVE_PAIRS
        " x JOIN file_blocks b ON b.file_id = x.file_id JOIN chunks c ON "
        "c.id = b.chunk_id";
    static const char chunks_all[] =
        "SELECT coalesce(sum(length), 0) FROM chunks WHERE refcount > 0 AND "
        "?1 = ?1";
    static const char chunks_repo[] =
        "SELECT coalesce(sum(length), 0) FROM chunks WHERE id IN (SELECT "
        "b.chunk_id FROM file_blocks b WHERE b.file_id IN (SELECT file_id "
        "FROM " LIVE_PAIRS "))";
    memset(f, 0, sizeof *f);
    if (query_i64_repo(st, logical, repo_id, &f->logical, err) < 0 ||
        query_i64_repo(st, files, repo_id, &f->files, err) < 0 ||
        query_i64_repo(st, spool, repo_id, &f->spool, err) < 0 ||
        query_i64_repo(st, referenced, repo_id, &f->referenced, err) < 0 ||
        query_i64_repo(st, repo_id < 0 ? chunks_all : chunks_repo, repo_id,
                       &f->chunk, err) < 0)
        return -1;
    return 0;
}

static json_t *figures_json(const figures *f)
{
    int64_t stored = f->chunk + f->spool;
    int64_t saved = f->referenced - f->chunk;
    return json_pack("{s:I, s:I, s:I, s:I, s:f, s:I, s:I}", "logical_bytes",
                     (json_int_t)f->logical, "stored_bytes", (json_int_t)stored,
                     "chunk_bytes", (json_int_t)f->chunk, "spool_bytes",
                     (json_int_t)f->spool, "ratio",
                     stored ? (double)f->logical / (double)stored : 0.0,
                     "dedup_saved_bytes", (json_int_t)(saved > 0 ? saved : 0),
                     "files", (json_int_t)f->files);
}

static json_t *repo_figures(es_store *st, int64_t repo_id, const char *name,
                            es_err *err)
{
    figures f;
    if (figures_get(st, repo_id, &f, err) < 0)
        return NULL;
    json_t *j = figures_json(&f);
    json_object_set_new(j, "name", json_string(name));
    return j;
}

static json_t *all_repos(es_store *st, es_err *err)
{
    sqlite3_stmt *s =
        db_prep(st->db, "SELECT id, name FROM repos ORDER BY name", err);
    if (!s)
        return NULL;
    /* Collect first: figures_get reuses the connection's statements. */
    int64_t *ids = NULL;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = db_step_row(st->db, s, err)) == 1) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            ids = realloc(ids, cap * sizeof *ids);
            names = realloc(names, cap * sizeof *names);
            if (!ids || !names)
                abort(); /* tiny allocations */
        }
        ids[n] = sqlite3_column_int64(s, 0);
        names[n++] = strdup((const char *)sqlite3_column_text(s, 1));
    }
    sqlite3_reset(s);
    json_t *arr = rc < 0 ? NULL : json_array();
    for (size_t i = 0; arr && i < n; i++) {
        json_t *r = repo_figures(st, ids[i], names[i], err);
        if (!r) {
            json_decref(arr);
            arr = NULL;
        } else {
            json_array_append_new(arr, r);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(ids);
    return arr;
}

static int pack_bytes_cb(void *ctx, const chunk_container *c)
{
    *(int64_t *)ctx += (int64_t)c->bytes;
    return 0;
}

static json_t *stats_locked(es_store *st, const char *repo, es_err *err)
{
    if (repo) {
        int64_t id;
        if (repo_find(st, repo, &id, NULL, err) < 0)
            return NULL;
        return repo_figures(st, id, repo, err);
    }
    figures f;
    if (figures_get(st, -1, &f, err) < 0)
        return NULL;
    json_t *repos = all_repos(st, err);
    if (!repos)
        return NULL;
    json_t *j = figures_json(&f);
    json_object_set_new(j, "repos", repos);
    return j;
}

int store_stats(es_store *st, const char *repo, json_t **out, es_err *err)
{
    db_lock(st->db);
    json_t *j = stats_locked(st, repo, err);
    db_unlock(st->db);
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
