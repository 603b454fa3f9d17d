/*
 * meta_sqlite_chunks.c - chunks, tensors and manifests in SQLite (the
 * meta.h calls of ingest.c and gc.c): what a compression job looks up and
 * writes, what the GC frees and compaction moves.  Schema:
 * migrations/0001_init.sql, whose triggers keep chunks.refcount,
 * tensors.refcount and packs.live_* as rows come and go, so no statement
 * here touches a count.  The chunk store's containers are its packs.
 */
#include "meta_sqlite_internal.h"

#include <stdlib.h>
#include <string.h>

#include "vec.h"

/* ---- a compression job's file version -------------------------------- */

int sq_file_source_get(meta_tx *tx, int64_t file_id, meta_file_source *out,
                       es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "SELECT spool, upload_size, upload_sha256, mode "
                              "FROM files WHERE id = ?",
                              err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, file_id);
    int rc = db_step_row(d, s, err);
    if (rc == 1) {
        db_col_text(s, 0, out->spool, sizeof out->spool);
        out->upload_size = (uint64_t)sqlite3_column_int64(s, 1);
        db_col_text(s, 2, out->upload_sha256, sizeof out->upload_sha256);
        db_col_text(s, 3, out->mode, sizeof out->mode);
    }
    sqlite3_reset(s);
    return rc;
}

int sq_file_twin_find(meta_tx *tx, const char *upload_sha256, const char *mode,
                      int64_t file_id, int64_t *twin, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "SELECT id FROM files WHERE upload_sha256 = ? "
                              "AND mode IN (?, 'lossless') AND state = "
                              "'stored' AND id != ? ORDER BY mode = "
                              "'lossless' LIMIT 1",
                              err);
    if (!s)
        return -1;
    db_bind_text(s, 1, upload_sha256);
    db_bind_text(s, 2, mode);
    db_bind_i64(s, 3, file_id);
    int rc = db_step_row(d, s, err);
    *twin = rc == 1 ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    return rc;
}

/* Runs a statement whose ?1 is file_id and ?2 the twin. */
static int exec_pair(db *d, sqlite3_stmt *s, int64_t file_id, int64_t twin,
                     es_err *err)
{
    if (!s)
        return -1;
    db_bind_i64(s, 1, file_id);
    db_bind_i64(s, 2, twin);
    return db_step_done(d, s, err);
}

int sq_file_link_twin(meta_tx *tx, int64_t file_id, int64_t twin, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s =
        db_prep(d,
                "UPDATE files SET state = 'stored', error = NULL, spool = "
                "NULL, stored_bytes = 0, size = t.size, sha256 = t.sha256, "
                "format = t.format FROM (SELECT size, sha256, format FROM "
                "files WHERE id = ?2 AND state = 'stored') AS t WHERE "
                "files.id = ?1 AND files.state = 'compressing'",
                err);
    if (exec_pair(d, s, file_id, twin, err) < 0)
        return -1;
    if (db_changes(d) == 0)
        return 0;
    s = db_prep(d,
                "INSERT INTO file_blocks (file_id, seq, raw_offset, raw_len, "
                "chunk_id) SELECT ?1, seq, raw_offset, raw_len, chunk_id "
                "FROM file_blocks WHERE file_id = ?2",
                err);
    if (exec_pair(d, s, file_id, twin, err) < 0)
        return -1;
    s = db_prep(d,
                "INSERT INTO file_segments (file_id, seq, kind, name, dtype, "
                "offset, length, codec, tensor_id) SELECT ?1, seq, kind, "
                "name, dtype, offset, length, codec, tensor_id FROM "
                "file_segments WHERE file_id = ?2",
                err);
    if (exec_pair(d, s, file_id, twin, err) < 0)
        return -1;
    return 1;
}

int sq_file_stored(meta_tx *tx, int64_t file_id, const char *sha256,
                   const char *format, uint64_t stored_bytes, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "UPDATE files SET state = 'stored', error = "
                              "NULL, spool = NULL, sha256 = ?, format = ?, "
                              "stored_bytes = ? WHERE id = ? AND state = "
                              "'compressing'",
                              err);
    if (!s)
        return -1;
    db_bind_text(s, 1, sha256);
    db_bind_text(s, 2, format);
    db_bind_i64(s, 3, (int64_t)stored_bytes);
    db_bind_i64(s, 4, file_id);
    if (db_step_done(d, s, err) < 0)
        return -1;
    return db_changes(d) > 0 ? 1 : 0;
}

int sq_job_done(meta_tx *tx, int64_t job_id, int64_t now, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "UPDATE jobs SET state = 'done', error = NULL, "
                              "progress_bytes = total_bytes, finished = ? "
                              "WHERE id = ?",
                              err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, now);
    db_bind_i64(s, 2, job_id);
    return db_step_done(d, s, err);
}

/* ---- tensor dedup ------------------------------------------------------ */

int sq_tensor_find(meta_tx *tx, const char *fingerprint, uint64_t raw_len,
                   int lossy_ok, int64_t *id, char codec[16], es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "SELECT id, codec, refcount FROM tensors WHERE "
                              "fingerprint = ? AND raw_len = ? AND (lossy = 0 "
                              "OR ? = 1) ORDER BY lossy DESC LIMIT 1",
                              err);
    if (!s)
        return -1;
    db_bind_text(s, 1, fingerprint);
    db_bind_i64(s, 2, (int64_t)raw_len);
    db_bind_i64(s, 3, lossy_ok ? 1 : 0);
    int rc = db_step_row(d, s, err);
    *id = 0;
    if (rc == 1) {
        *id = sqlite3_column_int64(s, 0);
        db_col_text(s, 1, codec, 16);
        rc = sqlite3_column_int64(s, 2) > 0 ? 1 : 2;
    }
    sqlite3_reset(s);
    return rc;
}

int sq_tensor_hold(meta_tx *tx, int64_t tensor_id, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "UPDATE tensors SET dead_since = CASE WHEN "
                              "refcount = 0 THEN CAST(strftime('%s', 'now') "
                              "AS INTEGER) ELSE dead_since END WHERE id = ?",
                              err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, tensor_id);
    if (db_step_done(d, s, err) < 0)
        return -1;
    return db_changes(d) > 0;
}

/* Reads every row of s (raw_offset, raw_len, then the chunk's id, pack,
 * offset, length and checksum), then calls fn on each: fn may make other
 * calls on the transaction. */
static int chunk_blocks_each(db *d, sqlite3_stmt *s,
                             int (*fn)(void *ctx, const meta_chunk_block *b),
                             void *ctx, es_err *err)
{
    vec rows = VEC_INIT(meta_chunk_block);
    int rc;
    while ((rc = db_step_row(d, s, err)) == 1) {
        meta_chunk_block *b = vec_grow(&rows);
        if (!b) {
            rc = es_errf(err, 500, "out of memory");
            break;
        }
        b->raw_offset = (uint64_t)sqlite3_column_int64(s, 0);
        b->raw_len = (uint32_t)sqlite3_column_int64(s, 1);
        b->chunk.id = sqlite3_column_int64(s, 2);
        b->chunk.container = (uint64_t)sqlite3_column_int64(s, 3);
        b->chunk.offset = (uint64_t)sqlite3_column_int64(s, 4);
        b->chunk.length = (uint32_t)sqlite3_column_int64(s, 5);
        b->chunk.checksum = (uint64_t)sqlite3_column_int64(s, 6);
    }
    sqlite3_reset(s);
    for (size_t i = 0; rc == 0 && i < rows.n; i++)
        rc = fn(ctx, &VEC_AT(&rows, meta_chunk_block, i));
    vec_free(&rows);
    return rc;
}

int sq_tensor_block_each(meta_tx *tx, int64_t tensor_id,
                         int (*fn)(void *ctx, const meta_chunk_block *b),
                         void *ctx, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s =
        db_prep(d,
                "SELECT tb.raw_offset, tb.raw_len, c.id, c.pack, c.offset, "
                "c.length, c.checksum FROM tensor_blocks tb JOIN chunks c ON "
                "c.id = tb.chunk_id WHERE tb.tensor_id = ? ORDER BY tb.seq",
                err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, tensor_id);
    return chunk_blocks_each(d, s, fn, ctx, err);
}

int sq_file_block_each(meta_tx *tx, int64_t file_id,
                       int (*fn)(void *ctx, const meta_chunk_block *b),
                       void *ctx, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "SELECT b.raw_offset, b.raw_len, c.id, c.pack, "
                              "c.offset, c.length, c.checksum FROM file_blocks "
                              "b JOIN chunks c ON c.id = b.chunk_id WHERE "
                              "b.file_id = ? ORDER BY b.seq",
                              err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, file_id);
    return chunk_blocks_each(d, s, fn, ctx, err);
}

/* ---- a job's manifest -------------------------------------------------- */

int sq_chunk_insert(meta_tx *tx, const meta_chunk_new *c, int64_t *id,
                    es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "INSERT INTO chunks (pack, offset, length, "
                              "checksum, raw_len, codec) VALUES (?, ?, "
                              "?, ?, ?, ?)",
                              err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, (int64_t)c->container);
    db_bind_i64(s, 2, (int64_t)c->offset);
    db_bind_i64(s, 3, c->length);
    db_bind_i64(s, 4, (int64_t)c->checksum);
    db_bind_i64(s, 5, c->raw_len);
    db_bind_i64(s, 6, c->codec);
    if (db_step_done(d, s, err) < 0)
        return -1;
    *id = db_last_id(d);
    return 0;
}

int sq_tensor_insert(meta_tx *tx, const meta_tensor_new *t, int64_t *id,
                     es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s =
        db_prep(d,
                "INSERT INTO tensors (fingerprint, lossy, dtype, "
                "shape, raw_len, codec, base_id, alone_bytes) "
                "VALUES (?, ?, ?, ?, ?, ?, NULLIF(?, 0), "
                "NULLIF(?, 0)) ON CONFLICT (fingerprint, lossy) DO "
                "NOTHING",
                err);
    if (!s)
        return -1;
    db_bind_text(s, 1, t->fingerprint);
    db_bind_i64(s, 2, t->lossy);
    db_bind_text(s, 3, t->dtype);
    db_bind_text(s, 4, t->shape);
    db_bind_i64(s, 5, (int64_t)t->raw_len);
    db_bind_text(s, 6, t->codec);
    db_bind_i64(s, 7, t->base_id);
    db_bind_i64(s, 8, (int64_t)t->alone_bytes);
    if (db_step_done(d, s, err) < 0)
        return -1;
    int created = db_changes(d) > 0;
    *id = created ? db_last_id(d) : 0;
    return created;
}

int sq_tensor_block_add(meta_tx *tx, int64_t tensor_id, const meta_block *b,
                        es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "INSERT INTO tensor_blocks (tensor_id, seq, "
                              "raw_offset, raw_len, chunk_id) VALUES (?, "
                              "?, ?, ?, ?)",
                              err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, tensor_id);
    db_bind_i64(s, 2, b->seq);
    db_bind_i64(s, 3, (int64_t)b->raw_offset);
    db_bind_i64(s, 4, b->raw_len);
    db_bind_i64(s, 5, b->chunk_id);
    return db_step_done(d, s, err);
}

int sq_segment_add(meta_tx *tx, int64_t file_id, const meta_segment *g,
                   es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "INSERT INTO file_segments (file_id, seq, kind, "
                              "name, dtype, offset, length, codec, tensor_id) "
                              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                              err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, file_id);
    db_bind_i64(s, 2, g->seq);
    db_bind_text(s, 3, g->kind);
    db_bind_text(s, 4, g->name);
    db_bind_text(s, 5, g->dtype);
    db_bind_i64(s, 6, (int64_t)g->offset);
    db_bind_i64(s, 7, (int64_t)g->length);
    db_bind_text(s, 8, g->codec);
    if (g->tensor_id) /* else NULL: the statement comes reset, unbound */
        db_bind_i64(s, 9, g->tensor_id);
    return db_step_done(d, s, err);
}

int sq_block_add(meta_tx *tx, int64_t file_id, const meta_block *b, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "INSERT INTO file_blocks (file_id, seq, "
                              "raw_offset, raw_len, chunk_id) VALUES (?, "
                              "?, ?, ?, ?)",
                              err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, file_id);
    db_bind_i64(s, 2, b->seq);
    db_bind_i64(s, 3, (int64_t)b->raw_offset);
    db_bind_i64(s, 4, b->raw_len);
    db_bind_i64(s, 5, b->chunk_id);
    return db_step_done(d, s, err);
}

/* ---- garbage collection ------------------------------------------------ */

int sq_tensor_dead_delete(meta_tx *tx, int64_t before, int64_t *n, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "DELETE FROM tensors WHERE refcount = 0 AND "
                              "coalesce(dead_since, 0) < ? AND NOT EXISTS "
                              "(SELECT 1 FROM tensors d WHERE d.base_id = "
                              "tensors.id)",
                              err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, before);
    if (db_step_done(d, s, err) < 0)
        return -1;
    *n = db_changes(d);
    return 0;
}

/* Reads the chunk rows s yields (id, pack, offset, length, checksum), then
 * calls fn on each, so fn may make other calls on the transaction. */
static int chunk_rows_each(db *d, sqlite3_stmt *s,
                           int (*fn)(void *ctx, const meta_chunk *c), void *ctx,
                           es_err *err)
{
    vec rows = VEC_INIT(meta_chunk);
    int rc;
    while ((rc = db_step_row(d, s, err)) == 1) {
        meta_chunk *c = vec_grow(&rows);
        if (!c) {
            rc = es_errf(err, 500, "out of memory");
            break;
        }
        c->id = sqlite3_column_int64(s, 0);
        c->container = (uint64_t)sqlite3_column_int64(s, 1);
        c->offset = (uint64_t)sqlite3_column_int64(s, 2);
        c->length = (uint32_t)sqlite3_column_int64(s, 3);
        c->checksum = (uint64_t)sqlite3_column_int64(s, 4);
    }
    sqlite3_reset(s);
    for (size_t i = 0; rc == 0 && i < rows.n; i++)
        rc = fn(ctx, &VEC_AT(&rows, meta_chunk, i));
    vec_free(&rows);
    return rc;
}

int sq_chunk_dead_each(meta_tx *tx, int64_t before,
                       int (*fn)(void *ctx, const meta_chunk *c), void *ctx,
                       es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "SELECT id, pack, offset, length, checksum FROM "
                              "chunks c WHERE refcount = 0 AND "
                              "coalesce(dead_since, 0) < ? AND NOT EXISTS "
                              "(SELECT 1 FROM tensor_blocks tb WHERE "
                              "tb.chunk_id = c.id)",
                              err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, before);
    return chunk_rows_each(d, s, fn, ctx, err);
}

int sq_chunk_delete(meta_tx *tx, int64_t chunk_id, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d, "DELETE FROM chunks WHERE id = ?", err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, chunk_id);
    return db_step_done(d, s, err);
}

int sq_job_prune(meta_tx *tx, int64_t before, int64_t *n, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "DELETE FROM jobs WHERE state IN ('done', "
                              "'failed') AND finished < ?",
                              err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, before);
    if (db_step_done(d, s, err) < 0)
        return -1;
    *n = db_changes(d);
    return 0;
}

/* ---- compaction -------------------------------------------------------- */

int sq_container_live_bytes(meta_tx *tx, uint64_t container, int64_t *out,
                            es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s =
        db_prep(d, "SELECT live_bytes FROM packs WHERE id = ?", err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, (int64_t)container);
    int rc = db_step_row(d, s, err);
    *out = rc == 1 ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    return rc < 0 ? -1 : 0;
}

int sq_container_chunk_each(meta_tx *tx, uint64_t container,
                            int (*fn)(void *ctx, const meta_chunk *c),
                            void *ctx, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "SELECT id, pack, offset, length, checksum FROM "
                              "chunks WHERE pack = ? ORDER BY offset",
                              err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, (int64_t)container);
    return chunk_rows_each(d, s, fn, ctx, err);
}

int sq_chunk_move(meta_tx *tx, int64_t chunk_id, uint64_t container,
                  uint64_t offset, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s =
        db_prep(d, "UPDATE chunks SET pack = ?, offset = ? WHERE id = ?", err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, (int64_t)container);
    db_bind_i64(s, 2, (int64_t)offset);
    db_bind_i64(s, 3, chunk_id);
    return db_step_done(d, s, err);
}

int sq_container_forget(meta_tx *tx, uint64_t container, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d, "DELETE FROM packs WHERE id = ?", err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, (int64_t)container);
    return db_step_done(d, s, err);
}

int sq_spool_named(meta_tx *tx, const char *name, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d, "SELECT 1 FROM files WHERE spool = ?", err);
    if (!s)
        return -1;
    db_bind_text(s, 1, name);
    int rc = db_step_row(d, s, err);
    sqlite3_reset(s);
    return rc;
}

/* Each row of s (bound) as a meta_base_tensor. */
static int base_tensor_rows(db *d, sqlite3_stmt *s,
                            int (*fn)(void *ctx, const meta_base_tensor *t),
                            void *ctx, es_err *err)
{
    int rc;
    while ((rc = db_step_row(d, s, err)) == 1) {
        meta_base_tensor t = {(const char *)sqlite3_column_text(s, 0),
                              (const char *)sqlite3_column_text(s, 1),
                              (const char *)sqlite3_column_text(s, 2),
                              (const char *)sqlite3_column_text(s, 3),
                              (uint64_t)sqlite3_column_int64(s, 4),
                              sqlite3_column_int64(s, 5),
                              sqlite3_column_int64(s, 6)};
        if (fn(ctx, &t) != 0) {
            rc = -1;
            break;
        }
    }
    sqlite3_reset(s);
    return rc < 0 ? -1 : 0;
}

#define BASE_TENSOR_COLS                                                       \
    "SELECT fs.name, t.dtype, t.shape, t.fingerprint, t.raw_len, t.id, "       \
    "coalesce(t.base_id, 0) FROM "
#define BASE_TENSOR_WHERE                                                      \
    " fs.name IS NOT NULL AND fs.codec IS NOT NULL AND t.lossy = 0"

int sq_base_tensor_each(meta_tx *tx, const char *commit_id,
                        int (*fn)(void *ctx, const meta_base_tensor *t),
                        void *ctx, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(
        d,
        BASE_TENSOR_COLS "tree_entries te JOIN file_segments fs ON fs.file_id "
                         "= te.file_id JOIN tensors t ON t.id = fs.tensor_id "
                         "WHERE te.commit_id = ? AND" BASE_TENSOR_WHERE,
        err);
    if (!s)
        return -1;
    db_bind_text(s, 1, commit_id);
    return base_tensor_rows(d, s, fn, ctx, err);
}

int sq_file_base_tensor_each(meta_tx *tx, int64_t file_id,
                             int (*fn)(void *ctx, const meta_base_tensor *t),
                             void *ctx, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s =
        db_prep(d,
                BASE_TENSOR_COLS
                "file_segments fs JOIN tensors t ON t.id = "
                "fs.tensor_id WHERE fs.file_id = ? AND" BASE_TENSOR_WHERE,
                err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, file_id);
    return base_tensor_rows(d, s, fn, ctx, err);
}

int sq_tensor_by_fingerprint(meta_tx *tx, const char *fingerprint, int64_t *id,
                             uint64_t *raw_len, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "SELECT id, raw_len FROM tensors WHERE "
                              "fingerprint = ? AND lossy = 0",
                              err);
    if (!s)
        return -1;
    db_bind_text(s, 1, fingerprint);
    int rc = db_step_row(d, s, err);
    if (rc == 1) {
        *id = sqlite3_column_int64(s, 0);
        *raw_len = (uint64_t)sqlite3_column_int64(s, 1);
    }
    sqlite3_reset(s);
    return rc;
}

int sq_repo_base_get(meta_tx *tx, int64_t repo_id, char base[256], es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(
        d, "SELECT base FROM repos WHERE id = ? AND base IS NOT NULL", err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, repo_id);
    int rc = db_step_row(d, s, err);
    if (rc == 1)
        db_col_text(s, 0, base, 256);
    sqlite3_reset(s);
    return rc;
}

int sq_repo_base_set(meta_tx *tx, int64_t repo_id, const char *base,
                     es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s =
        db_prep(d, "UPDATE repos SET base = NULLIF(?, '') WHERE id = ?", err);
    if (!s)
        return -1;
    db_bind_text(s, 1, base ? base : "");
    db_bind_i64(s, 2, repo_id);
    return db_step_done(d, s, err) < 0 ? -1 : 0;
}

int sq_base_candidate_each(meta_tx *tx, const char *name, const char *dtype,
                           const char *shape, uint64_t raw_len, int most,
                           int (*fn)(void *ctx, const meta_base_candidate *c),
                           void *ctx, es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(
        d,
        "SELECT p.name, t.fingerprint, t.id, fs.file_id FROM file_segments "
        "fs JOIN tensors t ON t.id = fs.tensor_id JOIN tree_entries te ON "
        "te.file_id = fs.file_id JOIN refs r ON r.commit_id = te.commit_id "
        "AND r.kind = 'branch' AND r.name = 'main' JOIN repos p ON p.id = "
        "r.repo_id WHERE fs.name = ?1 AND fs.dtype = ?2 AND fs.codec IS NOT "
        "NULL AND t.lossy = 0 AND t.base_id IS NULL AND t.shape = ?3 AND "
        "t.raw_len = ?4 AND p.mode = 'lossless' UNION SELECT me.repo_key, "
        "t.fingerprint, t.id, fs.file_id FROM file_segments fs JOIN tensors t "
        "ON t.id = fs.tensor_id JOIN mirror_entries me ON me.file_id = "
        "fs.file_id JOIN files f ON f.id = fs.file_id WHERE fs.name = ?1 AND "
        "fs.dtype = ?2 AND fs.codec IS NOT NULL AND t.lossy = 0 AND "
        "t.base_id IS NULL AND t.shape = ?3 AND t.raw_len = ?4 AND f.mode = "
        "'lossless' ORDER BY 1 LIMIT ?5",
        err);
    int rc;
    if (!s)
        return -1;
    db_bind_text(s, 1, name);
    db_bind_text(s, 2, dtype);
    db_bind_text(s, 3, shape);
    db_bind_i64(s, 4, (int64_t)raw_len);
    db_bind_i64(s, 5, most);
    while ((rc = db_step_row(d, s, err)) == 1) {
        meta_base_candidate c = {(const char *)sqlite3_column_text(s, 0),
                                 (const char *)sqlite3_column_text(s, 1),
                                 sqlite3_column_int64(s, 2),
                                 sqlite3_column_int64(s, 3)};
        if (fn(ctx, &c) != 0) {
            rc = -1;
            break;
        }
    }
    sqlite3_reset(s);
    return rc < 0 ? -1 : 0;
}

int sq_file_delta_get(meta_tx *tx, int64_t file_id, int64_t *segments,
                      int64_t *bytes, char base_repo[200], es_err *err)
{
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(
        d,
        "SELECT count(*), coalesce(sum(fs.length), 0) FROM file_segments fs "
        "JOIN tensors t ON t.id = fs.tensor_id WHERE fs.file_id = ? AND "
        "t.base_id IS NOT NULL",
        err);
    int rc;
    base_repo[0] = 0;
    if (!s)
        return -1;
    db_bind_i64(s, 1, file_id);
    rc = db_step_row(d, s, err);
    *segments = rc == 1 ? sqlite3_column_int64(s, 0) : 0;
    *bytes = rc == 1 ? sqlite3_column_int64(s, 1) : 0;
    sqlite3_reset(s);
    if (rc < 0 || *segments == 0)
        return rc < 0 ? -1 : 0;
    s = db_prep(
        d,
        "SELECT p.name, 0 FROM file_segments fs JOIN tensors t ON t.id = "
        "fs.tensor_id JOIN file_segments bs ON bs.tensor_id = t.base_id JOIN "
        "tree_entries te ON te.file_id = bs.file_id JOIN refs r ON "
        "r.commit_id = te.commit_id JOIN repos p ON p.id = r.repo_id WHERE "
        "fs.file_id = ?1 UNION SELECT me.repo_key, 1 FROM file_segments fs "
        "JOIN tensors t ON t.id = fs.tensor_id JOIN file_segments bs ON "
        "bs.tensor_id = t.base_id JOIN mirror_entries me ON me.file_id = "
        "bs.file_id WHERE fs.file_id = ?1 ORDER BY 2, 1 LIMIT 1",
        err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, file_id);
    rc = db_step_row(d, s, err);
    if (rc == 1)
        db_col_text(s, 0, base_repo, 200);
    sqlite3_reset(s);
    return rc < 0 ? -1 : 0;
}
