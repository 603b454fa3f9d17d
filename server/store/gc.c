/*
 * gc.c - garbage collection: frees chunks (and tensors) whose reference
 * count fell to zero, drops packs with no live chunk, compacts packs whose
 * live fraction is below store_config.compact_below, and at start-up
 * removes spool files no row names.
 *
 * Safety: GC holds gc_lock exclusively, so no ingest job is between looking
 * a chunk up and committing a reference to it.  Rows go first (one
 * transaction), bytes after: a crash in between leaves only unreferenced
 * bytes, which the next collection reclaims.  Compaction copies live
 * chunks, syncs, repoints the rows in one transaction, and only then drops
 * the old pack.
 */
#include "store_internal.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct gc_report {
    int64_t chunks_freed, bytes_freed;
    int64_t tensors_freed;
    int64_t packs_dropped, packs_compacted, bytes_moved;
    int64_t jobs_pruned;
} gc_report;

/* ---- freeing rows -----------------------------------------------------------
 */

static int free_dead_chunks(es_store *st, gc_report *rep, es_err *err)
{
    sqlite3_stmt *s = db_prep(st->db,
                              "SELECT id, pack, offset, length, checksum FROM "
                              "chunks WHERE refcount = 0",
                              err);
    if (!s)
        return -1;
    int rc;
    while ((rc = db_step_row(st->db, s, err)) == 1) {
        chunk_loc loc = {(uint64_t)sqlite3_column_int64(s, 1),
                         (uint64_t)sqlite3_column_int64(s, 2),
                         (uint32_t)sqlite3_column_int64(s, 3),
                         (uint64_t)sqlite3_column_int64(s, 4)};
        if (chunkstore_del(&st->cs, &loc, err) < 0) {
            rc = -1;
            break;
        }
        rep->chunks_freed++;
        rep->bytes_freed += loc.length;
    }
    sqlite3_reset(s);
    if (rc < 0)
        return -1;
    return db_exec(st->db, "DELETE FROM chunks WHERE refcount = 0", err);
}

/* Deletes the rows of jobs that ended (done or failed) more than
 * JOB_KEEP_S ago, so the table does not grow with every upload forever.
 * The file rows keep their own state and error; only GET /api/v1/jobs/{id}
 * of such an old job answers 404.  Runs inside the caller's transaction. */
static int jobs_prune(es_store *st, int64_t *pruned, es_err *err)
{
    sqlite3_stmt *s = db_prep(st->db,
                              "DELETE FROM jobs WHERE state IN ('done', "
                              "'failed') AND finished < ?",
                              err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, es_now() - JOB_KEEP_S);
    if (db_step_done(st->db, s, err) < 0)
        return -1;
    *pruned = db_changes(st->db);
    return 0;
}

static int free_dead_tx(es_store *st, gc_report *rep, es_err *err)
{
    int64_t tensors = 0;
    if (db_query_i64(st->db, "SELECT count(*) FROM tensors WHERE refcount = 0",
                     &tensors, err) < 0 ||
        db_exec(st->db, "DELETE FROM tensors WHERE refcount = 0", err) < 0)
        return -1;
    rep->tensors_freed = tensors;
    if (jobs_prune(st, &rep->jobs_pruned, err) < 0)
        return -1;
    return free_dead_chunks(st, rep, err);
}

static int free_dead(es_store *st, gc_report *rep, es_err *err)
{
    if (db_tx_begin(st->db, err) < 0)
        return -1;
    if (free_dead_tx(st, rep, err) < 0) {
        db_tx_rollback(st->db);
        return -1;
    }
    return db_tx_commit(st->db, err);
}

/* ---- compaction
 * --------------------------------------------------------------- */

typedef struct moved {
    int64_t id;
    chunk_loc from, to;
} moved;

static int live_bytes(es_store *st, uint64_t pack, int64_t *out, es_err *err)
{
    db_lock(st->db);
    sqlite3_stmt *s =
        db_prep(st->db, "SELECT live_bytes FROM packs WHERE id = ?", err);
    int rc = s ? 0 : -1;
    if (s) {
        db_bind_i64(s, 1, (int64_t)pack);
        rc = db_step_row(st->db, s, err);
        *out = rc == 1 ? sqlite3_column_int64(s, 0) : 0;
        sqlite3_reset(s);
    }
    db_unlock(st->db);
    return rc < 0 ? -1 : 0;
}

static int pack_chunks(es_store *st, uint64_t pack, moved **out, size_t *n,
                       es_err *err)
{
    db_lock(st->db);
    sqlite3_stmt *s = db_prep(st->db,
                              "SELECT id, offset, length, checksum FROM chunks "
                              "WHERE pack = ? ORDER BY offset",
                              err);
    int rc = s ? 0 : -1;
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    if (s) {
        db_bind_i64(s, 1, (int64_t)pack);
        while ((rc = db_step_row(st->db, s, err)) == 1) {
            if (*n == cap) {
                cap = cap ? cap * 2 : 64;
                moved *grown = realloc(*out, cap * sizeof *grown);
                if (!grown) {
                    rc = es_errf(err, 500, "out of memory");
                    break;
                }
                *out = grown;
            }
            moved *m = &(*out)[(*n)++];
            m->id = sqlite3_column_int64(s, 0);
            m->from = (chunk_loc){pack, (uint64_t)sqlite3_column_int64(s, 1),
                                  (uint32_t)sqlite3_column_int64(s, 2),
                                  (uint64_t)sqlite3_column_int64(s, 3)};
        }
        sqlite3_reset(s);
    }
    db_unlock(st->db);
    return rc < 0 ? -1 : 0;
}

static int copy_chunks(es_store *st, moved *m, size_t n, es_err *err)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t *buf = malloc(m[i].from.length ? m[i].from.length : 1);
        if (!buf)
            return es_errf(err, 500, "out of memory");
        int rc =
            chunkstore_get(&st->cs, &m[i].from, 0, m[i].from.length, buf, err);
        if (rc == 0)
            rc = chunkstore_put(&st->cs, buf, m[i].from.length, &m[i].to, err);
        free(buf);
        if (rc < 0)
            return -1;
    }
    return chunkstore_sync(&st->cs, err);
}

static int repoint_tx(es_store *st, const moved *m, size_t n, es_err *err)
{
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *s = db_prep(
            st->db, "UPDATE chunks SET pack = ?, offset = ? WHERE id = ?", err);
        if (!s)
            return -1;
        db_bind_i64(s, 1, (int64_t)m[i].to.container);
        db_bind_i64(s, 2, (int64_t)m[i].to.offset);
        db_bind_i64(s, 3, m[i].id);
        if (db_step_done(st->db, s, err) < 0)
            return -1;
    }
    return 0;
}

static int forget_pack(es_store *st, uint64_t pack, es_err *err)
{
    db_lock(st->db);
    sqlite3_stmt *s = db_prep(st->db, "DELETE FROM packs WHERE id = ?", err);
    int rc = s ? 0 : -1;
    if (s) {
        db_bind_i64(s, 1, (int64_t)pack);
        rc = db_step_done(st->db, s, err);
    }
    db_unlock(st->db);
    if (rc < 0)
        return -1;
    return chunkstore_drop(&st->cs, pack, err);
}

static int compact_pack(es_store *st, uint64_t pack, gc_report *rep,
                        es_err *err)
{
    moved *m;
    size_t n;
    if (pack_chunks(st, pack, &m, &n, err) < 0)
        return -1;
    int rc = copy_chunks(st, m, n, err);
    if (rc == 0 && (rc = db_tx_begin(st->db, err)) == 0) {
        if (repoint_tx(st, m, n, err) < 0) {
            db_tx_rollback(st->db);
            rc = -1;
        } else {
            rc = db_tx_commit(st->db, err);
        }
    }
    for (size_t i = 0; rc == 0 && i < n; i++)
        rep->bytes_moved += m[i].from.length;
    free(m);
    if (rc < 0)
        return -1;
    rep->packs_compacted++;
    return forget_pack(st, pack, err);
}

typedef struct compact_ctx {
    es_store *st;
    gc_report *rep;
    es_err *err;
    chunk_container *todo;
    size_t n, cap;
} compact_ctx;

static int collect_container(void *arg, const chunk_container *c)
{
    compact_ctx *cc = arg;
    if (c->open)
        return 0;
    if (cc->n == cc->cap) {
        size_t cap = cc->cap ? cc->cap * 2 : 16;
        chunk_container *grown = realloc(cc->todo, cap * sizeof *grown);
        if (!grown)
            return es_errf(cc->err, 500, "out of memory");
        cc->todo = grown;
        cc->cap = cap;
    }
    cc->todo[cc->n++] = *c;
    return 0;
}

static int compact(es_store *st, gc_report *rep, es_err *err)
{
    compact_ctx cc = {st, rep, err, NULL, 0, 0};
    int rc = chunkstore_iterate(&st->cs, collect_container, &cc, err);
    for (size_t i = 0; rc == 0 && i < cc.n; i++) {
        int64_t live;
        const chunk_container *c = &cc.todo[i];
        if ((rc = live_bytes(st, c->id, &live, err)) < 0)
            break;
        if (live == 0) {
            rc = forget_pack(st, c->id, err);
            rep->packs_dropped++;
        } else if ((double)live < st->compact_below * (double)c->bytes) {
            rc = compact_pack(st, c->id, rep, err);
        }
    }
    free(cc.todo);
    return rc;
}

/* ---- entry points
 * ------------------------------------------------------------------ */

int store_gc(es_store *st, json_t **out, es_err *err)
{
    gc_report rep = {0};
    pthread_mutex_lock(&st->gc_mu);
    pthread_rwlock_wrlock(&st->gc_lock);
    int rc = free_dead(st, &rep, err);
    if (rc == 0)
        rc = compact(st, &rep, err);
    pthread_rwlock_unlock(&st->gc_lock);
    pthread_mutex_unlock(&st->gc_mu);
    if (rc < 0)
        return -1;
    *out = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "chunks_freed",
                     (json_int_t)rep.chunks_freed, "bytes_freed",
                     (json_int_t)rep.bytes_freed, "tensors_freed",
                     (json_int_t)rep.tensors_freed, "packs_dropped",
                     (json_int_t)rep.packs_dropped, "packs_compacted",
                     (json_int_t)rep.packs_compacted, "bytes_moved",
                     (json_int_t)rep.bytes_moved, "jobs_pruned",
                     (json_int_t)rep.jobs_pruned);
    return 0;
}

static int spool_named(es_store *st, const char *name, int *named, es_err *err)
{
    sqlite3_stmt *s =
        db_prep(st->db, "SELECT 1 FROM files WHERE spool = ?", err);
    if (!s)
        return -1;
    db_bind_text(s, 1, name);
    int rc = db_step_row(st->db, s, err);
    sqlite3_reset(s);
    *named = rc == 1;
    return rc < 0 ? -1 : 0;
}

int gc_orphan_spools(es_store *st, es_err *err)
{
    DIR *dir = opendir(st->spool_dir);
    if (!dir)
        return es_errf(err, 500, "open %s", st->spool_dir);
    struct dirent *e;
    int rc = 0;
    db_lock(st->db);
    while (rc == 0 && (e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        int named = 0;
        if (strncmp(e->d_name, "tmp-", 4) != 0 &&
            (rc = spool_named(st, e->d_name, &named, err)) < 0)
            break;
        if (!named) {
            char path[4096];
            store_spool_path(st, e->d_name, path, sizeof path);
            unlink(path);
        }
    }
    db_unlock(st->db);
    closedir(dir);
    return rc;
}
