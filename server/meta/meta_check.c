/*
 * meta_check.c - the metadata's consistency checks (meta_check_each in
 * meta.h), for elvesd fsck (store/fsck.c).
 *
 * Each check is a count of the rows that break one invariant of the
 * schema (migrations/), and for those the rows themselves can fix (a
 * reference count is the number of its references; a pack's totals are
 * the sums of its chunks), an UPDATE that fixes them.  The SQL is written
 * once, in what SQLite and PostgreSQL both accept: "offset" quoted (a
 * reserved word in PostgreSQL), $1 for the one parameter (SQLite takes it
 * as a named one).
 */
#include "meta.h"

#include <stddef.h>

typedef struct check {
    const char *name, *what, *count, *repair;
} check;

#define CHUNK_REFS                                                             \
    "(SELECT count(*) FROM file_blocks b WHERE b.chunk_id = chunks.id)"
#define TENSOR_REFS                                                            \
    "(SELECT count(*) FROM file_segments s WHERE s.tensor_id = tensors.id)"
#define PACK_BYTES                                                             \
    "(SELECT coalesce(sum(c.length), 0) FROM chunks c WHERE c.pack = "         \
    "packs.id)"
#define PACK_CHUNKS "(SELECT count(*) FROM chunks c WHERE c.pack = packs.id)"
#define DEAD_WRONG "(refcount = 0) <> (dead_since IS NOT NULL)"
#define DEAD_FIX                                                               \
    "dead_since = CASE WHEN refcount = 0 THEN CAST($1 AS BIGINT) END"

static const check checks[] = {
    {"chunk_refcount",
     "chunks whose refcount is not the number of file blocks naming them",
     "SELECT count(*) FROM chunks WHERE refcount <> " CHUNK_REFS,
     "UPDATE chunks SET refcount = " CHUNK_REFS
     " WHERE refcount <> " CHUNK_REFS},
    {"tensor_refcount",
     "tensors whose refcount is not the number of file segments naming them",
     "SELECT count(*) FROM tensors WHERE refcount <> " TENSOR_REFS,
     "UPDATE tensors SET refcount = " TENSOR_REFS
     " WHERE refcount <> " TENSOR_REFS},
    {"chunk_dead_mark",
     "chunks marked dead while referenced, or unreferenced and never to be "
     "collected",
     "SELECT count(*) FROM chunks WHERE " DEAD_WRONG,
     "UPDATE chunks SET " DEAD_FIX " WHERE " DEAD_WRONG},
    {"tensor_dead_mark",
     "tensors marked dead while referenced, or unreferenced and never to be "
     "collected",
     "SELECT count(*) FROM tensors WHERE " DEAD_WRONG,
     "UPDATE tensors SET " DEAD_FIX " WHERE " DEAD_WRONG},
    {"pack_totals",
     "packs whose live bytes or chunks are not the sums of their chunks",
     "SELECT count(*) FROM packs WHERE live_bytes <> " PACK_BYTES
     " OR live_chunks <> " PACK_CHUNKS,
     "UPDATE packs SET live_bytes = " PACK_BYTES ", live_chunks = " PACK_CHUNKS
     " WHERE live_bytes <> " PACK_BYTES " OR live_chunks <> " PACK_CHUNKS},
    {"block_chunk_missing",
     "file or tensor blocks naming a chunk that has no row",
     "SELECT (SELECT count(*) FROM file_blocks b WHERE NOT EXISTS (SELECT 1 "
     "FROM chunks c WHERE c.id = b.chunk_id)) + (SELECT count(*) FROM "
     "tensor_blocks b WHERE NOT EXISTS (SELECT 1 FROM chunks c WHERE c.id = "
     "b.chunk_id))",
     NULL},
    {"segment_tensor_missing", "file segments naming a tensor that has no row",
     "SELECT count(*) FROM file_segments s WHERE s.tensor_id IS NOT NULL AND "
     "NOT EXISTS (SELECT 1 FROM tensors t WHERE t.id = s.tensor_id)",
     NULL},
    {"delta_base_missing",
     "delta tensors whose base tensor has no row (its bytes are gone)",
     "SELECT count(*) FROM tensors d WHERE d.base_id IS NOT NULL AND NOT "
     "EXISTS (SELECT 1 FROM tensors b WHERE b.id = d.base_id)",
     NULL},
    {"delta_chain",
     "delta tensors whose base is itself a delta (chains are one level deep)",
     "SELECT count(*) FROM tensors d JOIN tensors b ON b.id = d.base_id WHERE "
     "b.base_id IS NOT NULL",
     NULL},
    {"delta_base_mismatch",
     "delta tensors whose base differs in dtype or length, or is lossy",
     "SELECT count(*) FROM tensors d JOIN tensors b ON b.id = d.base_id WHERE "
     "b.dtype <> d.dtype OR b.raw_len <> d.raw_len OR b.lossy <> 0",
     NULL},
    {"tensor_blocks_cover",
     "tensors whose blocks do not add up to their length",
     "SELECT count(*) FROM tensors t WHERE t.raw_len <> (SELECT "
     "coalesce(sum(b.raw_len), 0) FROM tensor_blocks b WHERE b.tensor_id = "
     "t.id)",
     NULL},
    {"file_blocks_cover",
     "stored file versions whose blocks do not add up to their size",
     "SELECT count(*) FROM files f WHERE f.state = 'stored' AND f.size <> "
     "(SELECT coalesce(sum(b.raw_len), 0) FROM file_blocks b WHERE b.file_id "
     "= f.id)",
     NULL},
    {"file_without_job",
     "file versions waiting for compression that no queued or running job "
     "will compress",
     "SELECT count(*) FROM files f WHERE f.state IN ('spooled', "
     "'compressing') AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.file_id = "
     "f.id AND j.state IN ('queued', 'running'))",
     NULL},
    {"job_file_done",
     "queued or running jobs whose file version is already stored",
     "SELECT count(*) FROM jobs j JOIN files f ON f.id = j.file_id WHERE "
     "j.state IN ('queued', 'running') AND f.state = 'stored'",
     NULL},
};

int meta_check_each(meta_tx *tx, int repair, int64_t now,
                    int (*fn)(void *ctx, const meta_check_result *r), void *ctx,
                    es_err *err)
{
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        const check *c = &checks[i];
        meta_check_result r = {c->name, c->what, 0, c->repair != NULL, 0};
        if (tx->ops->check_count(tx, c->count, &r.problems, err) < 0)
            return -1;
        if (repair && r.problems > 0 && c->repair &&
            tx->ops->check_repair(tx, c->repair, now, &r.repaired, err) < 0)
            return -1;
        int rc = fn(ctx, &r);
        if (rc != 0)
            return rc;
    }
    return 0;
}
