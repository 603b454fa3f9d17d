/*
 * meta_sqlite.c - the SQLite backend of meta.h: transactions on db.c's one
 * connection, and the typed calls, each one or a few prepared statements.
 *
 * One connection, one mutex (db.h): a META_READ transaction holds the lock
 * (readers never see a half-done write, as writers hold it too), a
 * META_WRITE one also runs BEGIN IMMEDIATE.  So there is one transaction
 * at a time and it lives in the backend's struct.
 */
#include "meta_sqlite_internal.h"

#include <stdlib.h>
#include <string.h>

#include "vec.h"

static const meta_ops sq_ops;

/* ---- transactions ------------------------------------------------------ */

static int sq_begin(meta *m, meta_mode mode, meta_tx **tx, es_err *err)
{
    sq_meta *sm = (sq_meta *)m;
    if (mode == META_WRITE) {
        if (db_tx_begin(sm->d, err) < 0)
            return -1;
    } else {
        db_lock(sm->d);
    }
    sm->tx.mode = mode;
    *tx = &sm->tx.base;
    return 0;
}

static int sq_commit(meta_tx *tx, es_err *err)
{
    sq_tx *t = (sq_tx *)tx;
    if (t->mode == META_WRITE)
        return db_tx_commit(t->m->d, err);
    db_unlock(t->m->d);
    return 0;
}

static void sq_rollback(meta_tx *tx)
{
    sq_tx *t = (sq_tx *)tx;
    if (t->mode == META_WRITE)
        db_tx_rollback(t->m->d);
    else
        db_unlock(t->m->d);
}

/* ---- operations -------------------------------------------------------- */

static int sq_schema(meta_tx *tx, meta_schema *out, es_err *err)
{
    db *d = sq_db(tx);
    int64_t one = 0;
    memset(out, 0, sizeof *out);
    if (db_query_i64(d, "SELECT 1", &one, err) < 0 ||
        db_query_i64(d, "SELECT count(*) FROM schema_migrations", &out->applied,
                     err) < 0 ||
        db_query_i64(d,
                     "SELECT coalesce(max(version), 0) FROM schema_migrations",
                     &out->newest, err) < 0)
        return -1;
    if (one != 1)
        return es_errf(err, 500, "database: no answer");
    out->known = meta_migrations_count;
    out->known_newest = meta_migrations_known_newest();
    return 0;
}

static int sq_job_counts(meta_tx *tx, meta_job_counts *out, es_err *err)
{
    db *d = sq_db(tx);
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s =
        db_prep(d, "SELECT state, count(*) FROM jobs GROUP BY state", err);
    if (!s)
        return -1;
    int rc;
    while ((rc = db_step_row(d, s, err)) == 1) {
        const char *state = (const char *)sqlite3_column_text(s, 0);
        int64_t n = sqlite3_column_int64(s, 1);
        if (state == NULL)
            continue;
        if (strcmp(state, "queued") == 0)
            out->queued = n;
        else if (strcmp(state, "running") == 0)
            out->running = n;
        else if (strcmp(state, "done") == 0)
            out->done = n;
        else if (strcmp(state, "failed") == 0)
            out->failed = n;
    }
    sqlite3_reset(s);
    return rc < 0 ? -1 : 0;
}

static int sq_token_find(meta_tx *tx, const char *hash, meta_token *out,
                         es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(
        d, "SELECT id, name, can_write FROM tokens WHERE hash = ?", err);
    if (!s)
        return -1;
    db_bind_text(s, 1, hash);
    int rc = db_step_row(d, s, err);
    if (rc == 1) {
        out->id = sqlite3_column_int64(s, 0);
        db_col_text(s, 1, out->name, sizeof out->name);
        out->can_write = sqlite3_column_int(s, 2) != 0;
    }
    sqlite3_reset(s);
    return rc;
}

static int sq_token_count(meta_tx *tx, int64_t *n, es_err *err)
{
    return db_query_i64(sq_db(tx), "SELECT count(*) FROM tokens", n, err) < 0
               ? -1
               : 0;
}

static int sq_token_add(meta_tx *tx, const char *name, const char *hash,
                        int can_write, int64_t created, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "INSERT INTO tokens (name, hash, can_write, "
                              "created) VALUES (?, ?, ?, ?)",
                              err);
    if (!s)
        return -1;
    db_bind_text(s, 1, name);
    db_bind_text(s, 2, hash);
    db_bind_i64(s, 3, can_write ? 1 : 0);
    db_bind_i64(s, 4, created);
    return db_step_done(d, s, err);
}

static void repo_row(sqlite3_stmt *s, meta_repo *r)
{
    r->id = sqlite3_column_int64(s, 0);
    db_col_text(s, 1, r->name, sizeof r->name);
    db_col_text(s, 2, r->mode, sizeof r->mode);
    r->created = sqlite3_column_int64(s, 3);
}

static int sq_repo_find(meta_tx *tx, const char *name, meta_repo *out,
                        es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(
        d, "SELECT id, name, mode, created FROM repos WHERE name = ?", err);
    if (!s)
        return -1;
    db_bind_text(s, 1, name);
    int rc = db_step_row(d, s, err);
    if (rc == 1)
        repo_row(s, out);
    sqlite3_reset(s);
    return rc;
}

static int sq_repo_each(meta_tx *tx, int (*fn)(void *ctx, const meta_repo *r),
                        void *ctx, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(
        d, "SELECT id, name, mode, created FROM repos ORDER BY name", err);
    if (!s)
        return -1;
    /* Rows are read first, so fn may make other calls on tx. */
    vec rows = VEC_INIT(meta_repo);
    int rc;
    while ((rc = db_step_row(d, s, err)) == 1) {
        meta_repo *r = vec_grow(&rows);
        if (!r) {
            rc = es_errf(err, 500, "out of memory");
            break;
        }
        repo_row(s, r);
    }
    sqlite3_reset(s);
    for (size_t i = 0; rc == 0 && i < rows.n; i++)
        rc = fn(ctx, &VEC_AT(&rows, meta_repo, i));
    vec_free(&rows);
    return rc;
}

/* The (repo, file) pairs heads list; ?1 = repo id, or -1 for all. */
#define LIVE_PAIRS                                                             \
    "(SELECT DISTINCT r.repo_id AS repo_id, te.file_id AS file_id FROM refs "  \
    "r JOIN tree_entries te ON te.commit_id = r.commit_id WHERE ?1 < 0 OR "    \
    "r.repo_id = ?1)"

/* The delta tensors the listed files name. */
#define DELTA_TENSORS                                                          \
    "(SELECT DISTINCT fs.tensor_id FROM " LIVE_PAIRS                           \
    " x JOIN file_segments fs ON fs.file_id = x.file_id JOIN tensors t ON "    \
    "t.id = fs.tensor_id WHERE t.base_id IS NOT NULL)"

static int query_i64_repo(db *d, const char *sql, int64_t repo_id, int64_t *out,
                          es_err *err)
{
    sqlite3_stmt *s = db_prep(d, sql, err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, repo_id);
    int rc = db_step_row(d, s, err);
    *out = rc == 1 ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    return rc < 0 ? -1 : 0;
}

static int sq_figures(meta_tx *tx, int64_t repo_id, meta_figures *f,
                      es_err *err)
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
    static const char delta_logical[] =
        "SELECT coalesce(sum(fs.length), 0) FROM " LIVE_PAIRS
        " x JOIN file_segments fs ON fs.file_id = x.file_id JOIN tensors t ON "
        "t.id = fs.tensor_id WHERE t.base_id IS NOT NULL";
    static const char delta_stored[] =
        "SELECT coalesce(sum(c.length), 0) FROM tensor_blocks tb JOIN chunks "
        "c ON c.id = tb.chunk_id WHERE tb.tensor_id IN " DELTA_TENSORS;
    static const char delta_alone[] =
        "SELECT coalesce(sum(alone_bytes), 0) FROM tensors WHERE id IN "
        DELTA_TENSORS;
    db *d = sq_db(tx);
    memset(f, 0, sizeof *f);
    if (query_i64_repo(d, logical, repo_id, &f->logical, err) < 0 ||
        query_i64_repo(d, files, repo_id, &f->files, err) < 0 ||
        query_i64_repo(d, spool, repo_id, &f->spool, err) < 0 ||
        query_i64_repo(d, referenced, repo_id, &f->referenced, err) < 0 ||
        query_i64_repo(d, repo_id < 0 ? chunks_all : chunks_repo, repo_id,
                       &f->chunk, err) < 0 ||
        query_i64_repo(d, delta_logical, repo_id, &f->delta_logical, err) < 0 ||
        query_i64_repo(d, delta_stored, repo_id, &f->delta_stored, err) < 0 ||
        query_i64_repo(d, delta_alone, repo_id, &f->delta_alone, err) < 0)
        return -1;
    return 0;
}

/* ---- opening ------------------------------------------------------------ */

static void sq_close(meta *m)
{
    sq_meta *sm = (sq_meta *)m;
    db_close(sm->d);
    free(sm);
}

static const meta_ops sq_ops = {
    .version = META_OPS_VERSION,
    .name = "sqlite",
    .close = sq_close,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .schema = sq_schema,
    .job_counts = sq_job_counts,
    .token_find = sq_token_find,
    .token_count = sq_token_count,
    .token_add = sq_token_add,
    .repo_find = sq_repo_find,
    .repo_each = sq_repo_each,
    .repo_insert = sq_repo_insert,
    .repo_delete = sq_repo_delete,
    .repo_file_each = sq_repo_file_each,
    .ref_get = sq_ref_get,
    .ref_each = sq_ref_each,
    .ref_insert = sq_ref_insert,
    .ref_move = sq_ref_move,
    .commit_insert = sq_commit_insert,
    .commit_exists = sq_commit_exists,
    .entry_get = sq_entry_get,
    .entry_under = sq_entry_under,
    .entry_add = sq_entry_add,
    .entries_copy = sq_entries_copy,
    .entry_file = sq_entry_file,
    .entry_each = sq_entry_each,
    .entry_delete = sq_entry_delete,
    .entry_delete_under = sq_entry_delete_under,
    .commit_get = sq_commit_get,
    .hf_repo_get = sq_hf_repo_get,
    .hf_repo_settings = sq_hf_repo_settings,
    .ref_delete = sq_ref_delete,
    .commit_info = sq_commit_info,
    .repo_rename = sq_repo_rename,
    .hf_entry_each = sq_hf_entry_each,
    .object_find = sq_object_find,
    .blob_add = sq_blob_add,
    .mirror_pin_get = sq_mirror_pin_get,
    .mirror_pin_set = sq_mirror_pin_set,
    .mirror_commit_get = sq_mirror_commit_get,
    .mirror_commit_add = sq_mirror_commit_add,
    .mirror_entry_each = sq_mirror_entry_each,
    .mirror_entry_add = sq_mirror_entry_add,
    .mirror_entry_fetched = sq_mirror_entry_fetched,
    .file_get = sq_file_get,
    .job_claim = sq_job_claim,
    .job_requeue_expired = sq_job_requeue_expired,
    .job_renew = sq_job_renew,
    .job_finish = sq_job_finish,
    .job_attempts = sq_job_attempts,
    .job_owned = sq_job_owned,
    .job_pending = sq_job_pending,
    .job_get = sq_job_get,
    .chunk_get = sq_chunk_get,
    .file_block_each = sq_file_block_each,
    .file_insert = sq_file_insert,
    .file_listed = sq_file_listed,
    .file_delete = sq_file_delete,
    .file_codec_each = sq_file_codec_each,
    .file_chunk_bytes = sq_file_chunk_bytes,
    .job_insert = sq_job_insert,
    .file_source_get = sq_file_source_get,
    .file_twin_find = sq_file_twin_find,
    .file_link_twin = sq_file_link_twin,
    .file_stored = sq_file_stored,
    .job_done = sq_job_done,
    .tensor_find = sq_tensor_find,
    .tensor_hold = sq_tensor_hold,
    .tensor_block_each = sq_tensor_block_each,
    .chunk_insert = sq_chunk_insert,
    .tensor_insert = sq_tensor_insert,
    .tensor_block_add = sq_tensor_block_add,
    .segment_add = sq_segment_add,
    .block_add = sq_block_add,
    .base_tensor_each = sq_base_tensor_each,
    .file_base_tensor_each = sq_file_base_tensor_each,
    .base_candidate_each = sq_base_candidate_each,
    .file_delta_get = sq_file_delta_get,
    .tensor_by_fingerprint = sq_tensor_by_fingerprint,
    .repo_base_get = sq_repo_base_get,
    .repo_base_set = sq_repo_base_set,
    .tensor_dead_delete = sq_tensor_dead_delete,
    .chunk_dead_each = sq_chunk_dead_each,
    .chunk_delete = sq_chunk_delete,
    .job_prune = sq_job_prune,
    .container_live_bytes = sq_container_live_bytes,
    .container_chunk_each = sq_container_chunk_each,
    .chunk_move = sq_chunk_move,
    .container_forget = sq_container_forget,
    .spool_named = sq_spool_named,
    .figures = sq_figures,
    .check_count = sq_check_count,
    .check_repair = sq_check_repair,
    .chunk_container_each = sq_chunk_container_each,
};

int meta_sqlite_open(meta **out, const char *path, es_err *err)
{
    sq_meta *sm = calloc(1, sizeof *sm);
    if (!sm)
        return es_errf(err, 500, "out of memory");
    if (db_open(&sm->d, path, err) < 0) {
        free(sm);
        return -1;
    }
    sm->base.ops = &sq_ops;
    sm->tx.base.ops = &sq_ops;
    sm->tx.m = sm;
    *out = &sm->base;
    return 0;
}
