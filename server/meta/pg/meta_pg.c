/*
 * meta_pg.c - the PostgreSQL backend of meta.h: its ops table, opening,
 * transactions (pg_conn.c has the pool and the locking), and the calls of
 * readiness, tokens, repository lookups and storage figures.  The other
 * calls are in one file per group of tables, as in meta/sqlite/, with the
 * same statements in PostgreSQL's dialect; the schema is the same
 * migrations/ (migrate.h).
 */
#include "meta_pg_internal.h"

#include <stdlib.h>
#include <string.h>

#include "migrate.h"

static const meta_ops pg_ops;

static int pg_begin(meta *m, meta_mode mode, meta_tx **tx, es_err *err)
{
    pg_tx *t;
    if (pg_tx_begin((pg_meta *)m, mode, &t, err) < 0)
        return -1;
    *tx = &t->base;
    return 0;
}

static int pg_commit(meta_tx *tx, es_err *err)
{
    return pg_tx_commit((pg_tx *)tx, err);
}

static void pg_rollback(meta_tx *tx)
{
    pg_tx_rollback((pg_tx *)tx);
}

static int pg_schema(meta_tx *tx, meta_schema *out, es_err *err)
{
    memset(out, 0, sizeof *out);
    if (pg_i64(tx, "SELECT count(*) FROM schema_migrations", PG_NONE,
               &out->applied, err) < 0 ||
        pg_i64(tx, "SELECT coalesce(max(version), 0) FROM schema_migrations",
               PG_NONE, &out->newest, err) < 0)
        return -1;
    out->known = meta_migrations_count;
    out->known_newest = meta_migrations_known_newest();
    return 0;
}

static int pg_token_find(meta_tx *tx, const char *hash, meta_token *out,
                         es_err *err)
{
    PGresult *r =
        pg_run(tx, "SELECT id, name, can_write FROM tokens WHERE hash = $1",
               PG_P(PG_T(hash)), err);
    if (!r)
        return -1;
    int found = PQntuples(r) > 0;
    if (found) {
        out->id = pg_col_i64(r, 0, 0);
        pg_col_text(r, 0, 1, out->name, sizeof out->name);
        out->can_write = pg_col_i64(r, 0, 2) != 0;
    }
    PQclear(r);
    return found;
}

static int pg_token_count(meta_tx *tx, int64_t *n, es_err *err)
{
    return pg_i64(tx, "SELECT count(*) FROM tokens", PG_NONE, n, err) < 0 ? -1
                                                                          : 0;
}

static int pg_token_add(meta_tx *tx, const char *name, const char *hash,
                        int can_write, int64_t created, es_err *err)
{
    return pg_exec(tx,
                   "INSERT INTO tokens (name, hash, can_write, created) "
                   "VALUES ($1, $2, $3, $4)",
                   PG_P(PG_T(name), PG_T(hash), PG_I(can_write ? 1 : 0),
                        PG_I(created)),
                   err) < 0
               ? -1
               : 0;
}

static void repo_row(const PGresult *r, int i, meta_repo *out)
{
    out->id = pg_col_i64(r, i, 0);
    pg_col_text(r, i, 1, out->name, sizeof out->name);
    pg_col_text(r, i, 2, out->mode, sizeof out->mode);
    out->created = pg_col_i64(r, i, 3);
}

static int pg_repo_find(meta_tx *tx, const char *name, meta_repo *out,
                        es_err *err)
{
    PGresult *r = pg_run(
        tx, "SELECT id, name, mode, created FROM repos WHERE name = $1",
        PG_P(PG_T(name)), err);
    if (!r)
        return -1;
    int found = PQntuples(r) > 0;
    if (found)
        repo_row(r, 0, out);
    PQclear(r);
    return found;
}

static int pg_repo_each(meta_tx *tx, int (*fn)(void *ctx, const meta_repo *r),
                        void *ctx, es_err *err)
{
    PGresult *r = pg_run(
        tx, "SELECT id, name, mode, created FROM repos ORDER BY name", PG_NONE,
        err);
    if (!r)
        return -1;
    /* the rows are all here, so fn may make other calls on tx */
    int rc = 0;
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        meta_repo row;
        repo_row(r, i, &row);
        rc = fn(ctx, &row);
    }
    PQclear(r);
    return rc;
}

/* The (repo, file) pairs heads list; $1 = repo id, or -1 for all. */
#define LIVE_PAIRS                                                             \
    "(SELECT DISTINCT r.repo_id AS repo_id, te.file_id AS file_id FROM refs "  \
    "r JOIN tree_entries te ON te.commit_id = r.commit_id WHERE $1::bigint < " \
    "0 OR r.repo_id = $1::bigint)"

/* The delta tensors the listed files name. */
#define DELTA_TENSORS                                                          \
    "(SELECT DISTINCT fs.tensor_id FROM " LIVE_PAIRS                           \
    " x JOIN file_segments fs ON fs.file_id = x.file_id JOIN tensors t ON "    \
    "t.id = fs.tensor_id WHERE t.base_id IS NOT NULL)"

static int pg_figures(meta_tx *tx, int64_t repo_id, meta_figures *f,
                      es_err *err)
{
    static const char logical[] =
        "SELECT coalesce(sum(f.size), 0) FROM " LIVE_PAIRS
        " x JOIN files f ON f.id = x.file_id";
    static const char files[] =
        "SELECT count(DISTINCT file_id) FROM " LIVE_PAIRS " x";
    static const char spool[] =
        "SELECT coalesce(sum(f.upload_size), 0) FROM files f WHERE f.spool IS "
        "NOT NULL AND f.id IN (SELECT file_id FROM " LIVE_PAIRS " x)";
    static const char referenced[] =
        "SELECT coalesce(sum(c.length), 0) FROM " LIVE_PAIRS
        " x JOIN file_blocks b ON b.file_id = x.file_id JOIN chunks c ON "
        "c.id = b.chunk_id";
    static const char chunks_all[] =
        "SELECT coalesce(sum(length), 0) FROM chunks WHERE refcount > 0 AND "
        "$1::bigint = $1::bigint";
    static const char chunks_repo[] =
        "SELECT coalesce(sum(length), 0) FROM chunks WHERE id IN (SELECT "
        "b.chunk_id FROM file_blocks b WHERE b.file_id IN (SELECT file_id "
        "FROM " LIVE_PAIRS " x))";
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
    const char *sql[] = {logical,     files,
                         spool,       referenced,
                         repo_id < 0 ? chunks_all : chunks_repo,
                         delta_logical, delta_stored, delta_alone};
    int64_t *into[] = {&f->logical,       &f->files,        &f->spool,
                       &f->referenced,    &f->chunk,        &f->delta_logical,
                       &f->delta_stored,  &f->delta_alone};
    memset(f, 0, sizeof *f);
    for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++)
        if (pg_i64(tx, sql[i], PG_P(PG_I(repo_id)), into[i], err) < 0)
            return -1;
    return 0;
}

static void pg_close(meta *m)
{
    pg_meta_destroy((pg_meta *)m);
}

static const meta_ops pg_ops = {
    .version = META_OPS_VERSION,
    .name = "postgres",
    .close = pg_close,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .schema = pg_schema,
    .job_counts = pg_job_counts,
    .token_find = pg_token_find,
    .token_count = pg_token_count,
    .token_add = pg_token_add,
    .repo_find = pg_repo_find,
    .repo_each = pg_repo_each,
    .repo_insert = pg_repo_insert,
    .repo_delete = pg_repo_delete,
    .repo_file_each = pg_repo_file_each,
    .ref_get = pg_ref_get,
    .ref_each = pg_ref_each,
    .ref_insert = pg_ref_insert,
    .ref_move = pg_ref_move,
    .commit_insert = pg_commit_insert,
    .commit_exists = pg_commit_exists,
    .entry_get = pg_entry_get,
    .entry_under = pg_entry_under,
    .entry_add = pg_entry_add,
    .entries_copy = pg_entries_copy,
    .entry_file = pg_entry_file,
    .entry_each = pg_entry_each,
    .entry_delete = pg_entry_delete,
    .entry_delete_under = pg_entry_delete_under,
    .commit_get = pg_commit_get,
    .hf_repo_get = pg_hf_repo_get,
    .hf_repo_settings = pg_hf_repo_settings,
    .ref_delete = pg_ref_delete,
    .commit_info = pg_commit_info,
    .repo_rename = pg_repo_rename,
    .hf_entry_each = pg_hf_entry_each,
    .object_find = pg_object_find,
    .blob_add = pg_blob_add,
    .mirror_pin_get = pg_mirror_pin_get,
    .mirror_pin_set = pg_mirror_pin_set,
    .mirror_commit_get = pg_mirror_commit_get,
    .mirror_commit_add = pg_mirror_commit_add,
    .mirror_entry_each = pg_mirror_entry_each,
    .mirror_entry_add = pg_mirror_entry_add,
    .mirror_entry_fetched = pg_mirror_entry_fetched,
    .file_get = pg_file_get,
    .job_claim = pg_job_claim,
    .job_requeue_expired = pg_job_requeue_expired,
    .job_renew = pg_job_renew,
    .job_finish = pg_job_finish,
    .job_attempts = pg_job_attempts,
    .job_owned = pg_job_owned,
    .job_pending = pg_job_pending,
    .job_get = pg_job_get,
    .chunk_get = pg_chunk_get,
    .file_block_each = pg_file_block_each,
    .file_insert = pg_file_insert,
    .file_listed = pg_file_listed,
    .file_delete = pg_file_delete,
    .file_codec_each = pg_file_codec_each,
    .file_chunk_bytes = pg_file_chunk_bytes,
    .job_insert = pg_job_insert,
    .file_source_get = pg_file_source_get,
    .file_twin_find = pg_file_twin_find,
    .file_link_twin = pg_file_link_twin,
    .file_stored = pg_file_stored,
    .job_done = pg_job_done,
    .tensor_find = pg_tensor_find,
    .tensor_hold = pg_tensor_hold,
    .tensor_block_each = pg_tensor_block_each,
    .chunk_insert = pg_chunk_insert,
    .tensor_insert = pg_tensor_insert,
    .tensor_block_add = pg_tensor_block_add,
    .segment_add = pg_segment_add,
    .block_add = pg_block_add,
    .base_tensor_each = pg_base_tensor_each,
    .file_base_tensor_each = pg_file_base_tensor_each,
    .base_candidate_each = pg_base_candidate_each,
    .file_delta_get = pg_file_delta_get,
    .tensor_by_fingerprint = pg_tensor_by_fingerprint,
    .repo_base_get = pg_repo_base_get,
    .repo_base_set = pg_repo_base_set,
    .tensor_dead_delete = pg_tensor_dead_delete,
    .chunk_dead_each = pg_chunk_dead_each,
    .chunk_delete = pg_chunk_delete,
    .job_prune = pg_job_prune,
    .container_live_bytes = pg_container_live_bytes,
    .container_chunk_each = pg_container_chunk_each,
    .chunk_move = pg_chunk_move,
    .container_forget = pg_container_forget,
    .spool_named = pg_spool_named,
    .figures = pg_figures,
    .check_count = pg_check_count,
    .check_repair = pg_check_repair,
    .chunk_container_each = pg_chunk_container_each,
};

int meta_pg_open(meta **out, const char *url, es_err *err)
{
    pg_meta *m;
    if (pg_meta_create(&m, &pg_ops, url, err) < 0)
        return -1;
    if (pg_meta_migrate(m, err) < 0) {
        pg_meta_destroy(m);
        return -1;
    }
    *out = (meta *)m;
    return 0;
}
