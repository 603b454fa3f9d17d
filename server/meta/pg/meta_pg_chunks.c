/*
 * meta_pg_chunks.c - chunks, tensors and manifests in PostgreSQL (the
 * statements of meta_sqlite_chunks.c and the chunk lookup of reads):
 * what a compression job looks up and writes, what the GC frees and
 * compaction moves.  The triggers of migrations/0001_init.sql and
 * 0004_leases_grace.sql keep refcount, dead_since and packs.live_*, so no
 * statement here touches a count.  "offset" is quoted: a reserved word.
 */
#include "meta_pg_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_COLS "c.id, c.pack, c.\"offset\", c.length, c.checksum"

/* The CHUNK_COLS of row i, from column `at` on. */
static void chunk_row(const PGresult *r, int i, int at, meta_chunk *c)
{
    c->id = pg_col_i64(r, i, at);
    c->container = (uint64_t)pg_col_i64(r, i, at + 1);
    c->offset = (uint64_t)pg_col_i64(r, i, at + 2);
    c->length = (uint32_t)pg_col_i64(r, i, at + 3);
    c->checksum = (uint64_t)pg_col_i64(r, i, at + 4);
}

int pg_chunk_get(meta_tx *tx, int64_t chunk_id, meta_chunk *out, es_err *err)
{
    PGresult *r =
        pg_run(tx, "SELECT " CHUNK_COLS " FROM chunks c WHERE c.id = $1",
               PG_P(PG_I(chunk_id)), err);
    if (!r)
        return -1;
    int found = PQntuples(r) > 0;
    if (found)
        chunk_row(r, 0, 0, out);
    PQclear(r);
    return found;
}

/* ---- a compression job's file version -------------------------------- */

int pg_file_source_get(meta_tx *tx, int64_t file_id, meta_file_source *out,
                       es_err *err)
{
    PGresult *r = pg_run(tx,
                         "SELECT spool, upload_size, upload_sha256, mode FROM "
                         "files WHERE id = $1",
                         PG_P(PG_I(file_id)), err);
    if (!r)
        return -1;
    int found = PQntuples(r) > 0;
    if (found) {
        pg_col_text(r, 0, 0, out->spool, sizeof out->spool);
        out->upload_size = (uint64_t)pg_col_i64(r, 0, 1);
        pg_col_text(r, 0, 2, out->upload_sha256, sizeof out->upload_sha256);
        pg_col_text(r, 0, 3, out->mode, sizeof out->mode);
    }
    PQclear(r);
    return found;
}

int pg_file_twin_find(meta_tx *tx, const char *upload_sha256, const char *mode,
                      int64_t file_id, int64_t *twin, es_err *err)
{
    return pg_i64(tx,
                  "SELECT id FROM files WHERE upload_sha256 = $1 AND mode IN "
                  "($2, 'lossless') AND state = 'stored' AND id != $3 ORDER BY "
                  "mode = 'lossless' LIMIT 1",
                  PG_P(PG_T(upload_sha256), PG_T(mode), PG_I(file_id)), twin,
                  err);
}

int pg_file_link_twin(meta_tx *tx, int64_t file_id, int64_t twin, es_err *err)
{
    static const char *const copy[] = {
        "INSERT INTO file_blocks (file_id, seq, raw_offset, raw_len, "
        "chunk_id) SELECT $1, seq, raw_offset, raw_len, chunk_id FROM "
        "file_blocks WHERE file_id = $2",
        "INSERT INTO file_segments (file_id, seq, kind, name, dtype, "
        "\"offset\", length, codec, tensor_id) SELECT $1, seq, kind, name, "
        "dtype, \"offset\", length, codec, tensor_id FROM file_segments "
        "WHERE file_id = $2",
    };
    int n = pg_exec(tx,
                    "UPDATE files SET state = 'stored', error = NULL, spool = "
                    "NULL, stored_bytes = 0, size = t.size, sha256 = t.sha256, "
                    "format = t.format FROM (SELECT size, sha256, format FROM "
                    "files WHERE id = $2 AND state = 'stored') AS t WHERE "
                    "files.id = $1 AND files.state = 'compressing'",
                    PG_P(PG_I(file_id), PG_I(twin)), err);
    if (n <= 0)
        return n;
    for (size_t i = 0; i < sizeof copy / sizeof copy[0]; i++)
        if (pg_exec(tx, copy[i], PG_P(PG_I(file_id), PG_I(twin)), err) < 0)
            return -1;
    return 1;
}

int pg_file_stored(meta_tx *tx, int64_t file_id, const char *sha256,
                   const char *format, uint64_t stored_bytes, es_err *err)
{
    int n = pg_exec(
        tx,
        "UPDATE files SET state = 'stored', error = NULL, spool = "
        "NULL, sha256 = $1, format = $2, stored_bytes = $3 WHERE "
        "id = $4 AND state = 'compressing'",
        PG_P(PG_T(sha256), PG_T(format), PG_I(stored_bytes), PG_I(file_id)),
        err);
    return n < 0 ? -1 : n > 0;
}

/* ---- tensor dedup ------------------------------------------------------ */

int pg_tensor_find(meta_tx *tx, const char *fingerprint, uint64_t raw_len,
                   int lossy_ok, int64_t *id, char codec[16], es_err *err)
{
    *id = 0;
    PGresult *r = pg_run(
        tx,
        "SELECT id, codec, refcount FROM tensors WHERE "
        "fingerprint = $1 "
        "AND raw_len = $2 AND (lossy = 0 OR $3::bigint = 1) "
        "ORDER BY lossy DESC LIMIT 1",
        PG_P(PG_T(fingerprint), PG_I(raw_len), PG_I(lossy_ok ? 1 : 0)), err);
    if (!r)
        return -1;
    int found = PQntuples(r) > 0;
    if (found) {
        *id = pg_col_i64(r, 0, 0);
        pg_col_text(r, 0, 1, codec, 16);
        found = pg_col_i64(r, 0, 2) > 0 ? 1 : 2;
    }
    PQclear(r);
    return found;
}

int pg_tensor_hold(meta_tx *tx, int64_t tensor_id, es_err *err)
{
    int n = pg_exec(tx,
                    "UPDATE tensors SET dead_since = CASE WHEN refcount = 0 "
                    "THEN floor(extract(epoch FROM now()))::bigint ELSE "
                    "dead_since END WHERE id = $1",
                    PG_P(PG_I(tensor_id)), err);
    return n < 0 ? -1 : n > 0;
}

/* Calls fn on every row of sql (raw_offset, raw_len, then CHUNK_COLS). */
static int chunk_blocks_each(meta_tx *tx, const char *sql, int64_t id,
                             int (*fn)(void *ctx, const meta_chunk_block *b),
                             void *ctx, es_err *err)
{
    PGresult *r = pg_run(tx, sql, PG_P(PG_I(id)), err);
    if (!r)
        return -1;
    int rc = 0;
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        meta_chunk_block b;
        b.raw_offset = (uint64_t)pg_col_i64(r, i, 0);
        b.raw_len = (uint32_t)pg_col_i64(r, i, 1);
        chunk_row(r, i, 2, &b.chunk);
        rc = fn(ctx, &b);
    }
    PQclear(r);
    return rc;
}

int pg_tensor_block_each(meta_tx *tx, int64_t tensor_id,
                         int (*fn)(void *ctx, const meta_chunk_block *b),
                         void *ctx, es_err *err)
{
    return chunk_blocks_each(tx,
                             "SELECT tb.raw_offset, tb.raw_len, " CHUNK_COLS
                             " FROM tensor_blocks tb JOIN chunks c ON c.id = "
                             "tb.chunk_id WHERE tb.tensor_id = $1 ORDER BY "
                             "tb.seq",
                             tensor_id, fn, ctx, err);
}

int pg_file_block_each(meta_tx *tx, int64_t file_id,
                       int (*fn)(void *ctx, const meta_chunk_block *b),
                       void *ctx, es_err *err)
{
    return chunk_blocks_each(tx,
                             "SELECT b.raw_offset, b.raw_len, " CHUNK_COLS
                             " FROM file_blocks b JOIN chunks c ON c.id = "
                             "b.chunk_id WHERE b.file_id = $1 ORDER BY b.seq",
                             file_id, fn, ctx, err);
}

/* ---- a job's manifest -------------------------------------------------- */

int pg_chunk_insert(meta_tx *tx, const meta_chunk_new *c, int64_t *id,
                    es_err *err)
{
    return pg_returning(tx,
                        "INSERT INTO chunks (pack, \"offset\", length, "
                        "checksum, raw_len, codec) VALUES ($1, $2, $3, $4, "
                        "$5, $6) RETURNING id",
                        PG_P(PG_I(c->container), PG_I(c->offset),
                             PG_I(c->length), PG_I((int64_t)c->checksum),
                             PG_I(c->raw_len), PG_I(c->codec)),
                        id, err);
}

int pg_tensor_insert(meta_tx *tx, const meta_tensor_new *t, int64_t *id,
                     es_err *err)
{
    int found =
        pg_i64(tx,
               "INSERT INTO tensors (fingerprint, lossy, dtype, shape, "
               "raw_len, codec, base_id, alone_bytes) VALUES ($1, $2, "
               "$3, $4, $5, $6, NULLIF($7::bigint, 0), "
               "NULLIF($8::bigint, 0)) ON CONFLICT (fingerprint, "
               "lossy) DO NOTHING RETURNING id",
               PG_P(PG_T(t->fingerprint), PG_I(t->lossy), PG_T(t->dtype),
                    PG_T(t->shape), PG_I(t->raw_len), PG_T(t->codec),
                    PG_I(t->base_id), PG_I(t->alone_bytes)),
               id, err);
    return found; /* *id is 0 when nothing was inserted */
}

/* A block row (tensor_blocks or file_blocks): owner, seq, where, chunk. */
static int block_insert(meta_tx *tx, const char *sql, int64_t owner,
                        const meta_block *b, es_err *err)
{
    return pg_ran(pg_exec(tx, sql,
                          PG_P(PG_I(owner), PG_I(b->seq), PG_I(b->raw_offset),
                               PG_I(b->raw_len), PG_I(b->chunk_id)),
                          err));
}

int pg_tensor_block_add(meta_tx *tx, int64_t tensor_id, const meta_block *b,
                        es_err *err)
{
    return block_insert(tx,
                        "INSERT INTO tensor_blocks (tensor_id, seq, "
                        "raw_offset, raw_len, chunk_id) VALUES ($1, $2, $3, "
                        "$4, $5)",
                        tensor_id, b, err);
}

int pg_block_add(meta_tx *tx, int64_t file_id, const meta_block *b, es_err *err)
{
    return block_insert(tx,
                        "INSERT INTO file_blocks (file_id, seq, raw_offset, "
                        "raw_len, chunk_id) VALUES ($1, $2, $3, $4, $5)",
                        file_id, b, err);
}

int pg_segment_add(meta_tx *tx, int64_t file_id, const meta_segment *g,
                   es_err *err)
{
    char tensor[24];
    snprintf(tensor, sizeof tensor, "%lld", (long long)g->tensor_id);
    return pg_ran(pg_exec(
        tx,
        "INSERT INTO file_segments (file_id, seq, kind, name, dtype, "
        "\"offset\", length, codec, tensor_id) VALUES ($1, $2, $3, $4, $5, $6, "
        "$7, $8, $9)",
        PG_P(PG_I(file_id), PG_I(g->seq), PG_T(g->kind), PG_T(g->name),
             PG_T(g->dtype), PG_I(g->offset), PG_I(g->length), PG_T(g->codec),
             PG_T(g->tensor_id ? tensor : NULL)),
        err));
}

/* ---- garbage collection ------------------------------------------------ */

int pg_tensor_dead_delete(meta_tx *tx, int64_t before, int64_t *n, es_err *err)
{
    int gone = pg_exec(tx,
                       "DELETE FROM tensors WHERE refcount = 0 AND "
                       "coalesce(dead_since, 0) < $1 AND NOT EXISTS (SELECT "
                       "1 FROM tensors d WHERE d.base_id = tensors.id)",
                       PG_P(PG_I(before)), err);
    if (gone < 0)
        return -1;
    *n = gone;
    return 0;
}

/* Calls fn on every chunk row of sql (CHUNK_COLS; $1 = arg). */
static int chunk_rows_each(meta_tx *tx, const char *sql, int64_t arg,
                           int (*fn)(void *ctx, const meta_chunk *c), void *ctx,
                           es_err *err)
{
    PGresult *r = pg_run(tx, sql, PG_P(PG_I(arg)), err);
    if (!r)
        return -1;
    int rc = 0;
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        meta_chunk c;
        chunk_row(r, i, 0, &c);
        rc = fn(ctx, &c);
    }
    PQclear(r);
    return rc;
}

int pg_chunk_dead_each(meta_tx *tx, int64_t before,
                       int (*fn)(void *ctx, const meta_chunk *c), void *ctx,
                       es_err *err)
{
    return chunk_rows_each(tx,
                           "SELECT " CHUNK_COLS " FROM chunks c WHERE "
                           "c.refcount = 0 AND coalesce(c.dead_since, 0) < $1 "
                           "AND NOT EXISTS (SELECT 1 FROM tensor_blocks tb "
                           "WHERE tb.chunk_id = c.id)",
                           before, fn, ctx, err);
}

int pg_chunk_delete(meta_tx *tx, int64_t chunk_id, es_err *err)
{
    return pg_ran(pg_exec(tx, "DELETE FROM chunks WHERE id = $1",
                          PG_P(PG_I(chunk_id)), err));
}

/* ---- compaction -------------------------------------------------------- */

int pg_container_live_bytes(meta_tx *tx, uint64_t container, int64_t *out,
                            es_err *err)
{
    return pg_ran(pg_i64(tx, "SELECT live_bytes FROM packs WHERE id = $1",
                         PG_P(PG_I(container)), out, err));
}

int pg_container_chunk_each(meta_tx *tx, uint64_t container,
                            int (*fn)(void *ctx, const meta_chunk *c),
                            void *ctx, es_err *err)
{
    return chunk_rows_each(tx,
                           "SELECT " CHUNK_COLS " FROM chunks c WHERE c.pack = "
                           "$1 ORDER BY c.\"offset\"",
                           (int64_t)container, fn, ctx, err);
}

int pg_chunk_move(meta_tx *tx, int64_t chunk_id, uint64_t container,
                  uint64_t offset, es_err *err)
{
    return pg_ran(pg_exec(
        tx, "UPDATE chunks SET pack = $1, \"offset\" = $2 WHERE id = $3",
        PG_P(PG_I(container), PG_I(offset), PG_I(chunk_id)), err));
}

int pg_container_forget(meta_tx *tx, uint64_t container, es_err *err)
{
    return pg_ran(pg_exec(tx, "DELETE FROM packs WHERE id = $1",
                          PG_P(PG_I(container)), err));
}

int pg_spool_named(meta_tx *tx, const char *name, es_err *err)
{
    return pg_exists(tx, "SELECT 1 FROM files WHERE spool = $1",
                     PG_P(PG_T(name)), err);
}

/* Each row of r as a meta_base_tensor; clears r. */
static int base_tensor_rows(PGresult *r,
                            int (*fn)(void *ctx, const meta_base_tensor *t),
                            void *ctx)
{
    int rc = 0;
    if (!r)
        return -1;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        meta_base_tensor t = {PQgetvalue(r, i, 0),
                              PQgetvalue(r, i, 1),
                              PQgetvalue(r, i, 2),
                              PQgetvalue(r, i, 3),
                              (uint64_t)pg_col_i64(r, i, 4),
                              pg_col_i64(r, i, 5),
                              pg_col_i64(r, i, 6)};
        rc = fn(ctx, &t) != 0 ? -1 : 0;
    }
    PQclear(r);
    return rc;
}

#define BASE_TENSOR_COLS                                                       \
    "SELECT fs.name, t.dtype, t.shape, t.fingerprint, t.raw_len, t.id, "       \
    "coalesce(t.base_id, 0) FROM "
#define BASE_TENSOR_WHERE                                                      \
    " fs.name IS NOT NULL AND fs.codec IS NOT NULL AND t.lossy = 0"

int pg_base_tensor_each(meta_tx *tx, const char *commit_id,
                        int (*fn)(void *ctx, const meta_base_tensor *t),
                        void *ctx, es_err *err)
{
    return base_tensor_rows(
        pg_run(tx,
               BASE_TENSOR_COLS "tree_entries te JOIN file_segments fs ON "
                                "fs.file_id = te.file_id JOIN tensors t ON "
                                "t.id = fs.tensor_id WHERE te.commit_id = $1 "
                                "AND" BASE_TENSOR_WHERE,
               PG_P(PG_T(commit_id)), err),
        fn, ctx);
}

int pg_file_base_tensor_each(meta_tx *tx, int64_t file_id,
                             int (*fn)(void *ctx, const meta_base_tensor *t),
                             void *ctx, es_err *err)
{
    return base_tensor_rows(pg_run(tx,
                                   BASE_TENSOR_COLS
                                   "file_segments fs JOIN tensors t ON t.id = "
                                   "fs.tensor_id WHERE fs.file_id = $1 "
                                   "AND" BASE_TENSOR_WHERE,
                                   PG_P(PG_I(file_id)), err),
                            fn, ctx);
}

int pg_tensor_by_fingerprint(meta_tx *tx, const char *fingerprint, int64_t *id,
                             uint64_t *raw_len, es_err *err)
{
    PGresult *r = pg_run(tx,
                         "SELECT id, raw_len FROM tensors WHERE fingerprint = "
                         "$1 AND lossy = 0",
                         PG_P(PG_T(fingerprint)), err);
    if (!r)
        return -1;
    int found = PQntuples(r) > 0;
    if (found) {
        *id = pg_col_i64(r, 0, 0);
        *raw_len = (uint64_t)pg_col_i64(r, 0, 1);
    }
    PQclear(r);
    return found;
}

int pg_repo_base_get(meta_tx *tx, int64_t repo_id, char base[256], es_err *err)
{
    PGresult *r = pg_run(tx,
                         "SELECT base FROM repos WHERE id = $1 AND base IS "
                         "NOT NULL",
                         PG_P(PG_I(repo_id)), err);
    if (!r)
        return -1;
    int found = PQntuples(r) > 0;
    if (found)
        pg_col_text(r, 0, 0, base, 256);
    PQclear(r);
    return found;
}

int pg_repo_base_set(meta_tx *tx, int64_t repo_id, const char *base,
                     es_err *err)
{
    return pg_ran(pg_exec(tx,
                          "UPDATE repos SET base = NULLIF($1, '') WHERE "
                          "id = $2",
                          PG_P(PG_T(base ? base : ""), PG_I(repo_id)), err));
}

int pg_base_candidate_each(meta_tx *tx, const char *name, const char *dtype,
                           const char *shape, uint64_t raw_len, int most,
                           int (*fn)(void *ctx, const meta_base_candidate *c),
                           void *ctx, es_err *err)
{
    PGresult *r = pg_run(
        tx,
        "SELECT p.name, t.fingerprint, t.id, fs.file_id FROM file_segments "
        "fs JOIN tensors t ON t.id = fs.tensor_id JOIN tree_entries te ON "
        "te.file_id = fs.file_id JOIN refs r ON r.commit_id = te.commit_id "
        "AND r.kind = 'branch' AND r.name = 'main' JOIN repos p ON p.id = "
        "r.repo_id WHERE fs.name = $1 AND fs.dtype = $2 AND fs.codec IS NOT "
        "NULL AND t.lossy = 0 AND t.base_id IS NULL AND t.shape = $3 AND "
        "t.raw_len = $4 AND p.mode = 'lossless' UNION SELECT me.repo_key, "
        "t.fingerprint, t.id, fs.file_id FROM file_segments fs JOIN tensors t "
        "ON t.id = fs.tensor_id JOIN mirror_entries me ON me.file_id = "
        "fs.file_id JOIN files f ON f.id = fs.file_id WHERE fs.name = $1 AND "
        "fs.dtype = $2 AND fs.codec IS NOT NULL AND t.lossy = 0 AND "
        "t.base_id IS NULL AND t.shape = $3 AND t.raw_len = $4 AND f.mode = "
        "'lossless' ORDER BY 1 LIMIT $5",
        PG_P(PG_T(name), PG_T(dtype), PG_T(shape), PG_I(raw_len), PG_I(most)),
        err);
    int rc = 0;
    if (!r)
        return -1;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        meta_base_candidate c = {PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
                                 pg_col_i64(r, i, 2), pg_col_i64(r, i, 3)};
        rc = fn(ctx, &c) != 0 ? -1 : 0;
    }
    PQclear(r);
    return rc;
}

int pg_file_delta_get(meta_tx *tx, int64_t file_id, int64_t *segments,
                      int64_t *bytes, char base_repo[200], es_err *err)
{
    PGresult *r = pg_run(
        tx,
        "SELECT count(*), coalesce(sum(fs.length), 0) FROM file_segments fs "
        "JOIN tensors t ON t.id = fs.tensor_id WHERE fs.file_id = $1 AND "
        "t.base_id IS NOT NULL",
        PG_P(PG_I(file_id)), err);
    base_repo[0] = 0;
    if (!r)
        return -1;
    *segments = PQntuples(r) ? pg_col_i64(r, 0, 0) : 0;
    *bytes = PQntuples(r) ? pg_col_i64(r, 0, 1) : 0;
    PQclear(r);
    if (*segments == 0)
        return 0;
    r = pg_run(
        tx,
        "SELECT p.name, 0 FROM file_segments fs JOIN tensors t ON t.id = "
        "fs.tensor_id JOIN file_segments bs ON bs.tensor_id = t.base_id JOIN "
        "tree_entries te ON te.file_id = bs.file_id JOIN refs r ON "
        "r.commit_id = te.commit_id JOIN repos p ON p.id = r.repo_id WHERE "
        "fs.file_id = $1 UNION SELECT me.repo_key, 1 FROM file_segments fs "
        "JOIN tensors t ON t.id = fs.tensor_id JOIN file_segments bs ON "
        "bs.tensor_id = t.base_id JOIN mirror_entries me ON me.file_id = "
        "bs.file_id WHERE fs.file_id = $1 ORDER BY 2, 1 LIMIT 1",
        PG_P(PG_I(file_id)), err);
    if (!r)
        return -1;
    if (PQntuples(r))
        pg_col_text(r, 0, 0, base_repo, 200);
    PQclear(r);
    return 0;
}
