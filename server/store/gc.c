/*
 * gc.c - garbage collection: frees chunks (and tensors) whose reference
 * count fell to zero, drops packs with no live chunk, compacts packs whose
 * live fraction is below store_config.compact_below, and at start-up
 * removes spool files no row names; with an S3 chunk store it also removes
 * the bucket's spool objects no row names that are older than the grace
 * time (left by a replica that died between the copy and the record).
 *
 * Safety: GC holds gc_lock exclusively, so no ingest job is between looking
 * a chunk up and committing a reference to it.  Freeing never leaves a row
 * that leads to deleted bytes:
 *   1. one transaction deletes the tensors nothing references, prunes old
 *      job rows and reads where the dead chunks live;
 *   2. the chunk store deletes those chunks' bytes;
 *   3. once every delete succeeded, one transaction deletes their rows.
 * Jobs find chunks only through tensors and through stored files' blocks
 * (which count as references), so once 1 has committed nothing leads to a
 * dead chunk: its row is only the record of bytes still to delete.  A
 * delete that fails, or a crash, after 1 leaves such rows (those of chunks
 * deleted before the failure too): the collection reports the failure, and
 * the next one reads them again, deletes their bytes again (chunkstore_del
 * accepts a chunk already deleted) and then the rows, so the space is
 * reclaimed later, not lost.  The local packs' del only accounts; their
 * space returns when compaction or a drop takes the pack, once its rows
 * are gone.  Compaction copies live chunks, syncs, repoints the rows in one
 * transaction, and only then drops the old pack.
 */
#include "store_internal.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

typedef struct gc_report {
    int64_t chunks_freed, bytes_freed;
    int64_t tensors_freed;
    int64_t packs_dropped, packs_compacted, bytes_moved;
    int64_t jobs_pruned;
    int64_t spool_objects_removed;
} gc_report;

/* ---- freeing rows -----------------------------------------------------------
 */

typedef struct collect_ctx {
    vec *v;
    es_err *err;
} collect_ctx;

static int collect_chunk(void *arg, const meta_chunk *c)
{
    collect_ctx *cc = arg;
    if (vec_push(cc->v, c) < 0)
        return es_errf(cc->err, 500, "out of memory");
    return 0;
}

/* What GC frees: rows dead since before this (store_config.gc_grace_s);
 * without a grace time, every dead row. */
static int64_t dead_before(const es_store *st)
{
    return st->gc_grace_s > 0 ? es_now() - st->gc_grace_s : INT64_MAX;
}

/* Step 1.  Deletes the rows of jobs that ended (done or failed) more than
 * JOB_KEEP_S ago too, so the table does not grow with every upload forever.
 * The file rows keep their own state and error; only GET /api/v1/jobs/{id}
 * of such an old job answers 404. */
static int free_dead_tx(meta_tx *tx, int64_t before, gc_report *rep, vec *dead,
                        es_err *err)
{
    if (meta_tensor_dead_delete(tx, before, &rep->tensors_freed, err) < 0 ||
        meta_job_prune(tx, es_now() - JOB_KEEP_S, &rep->jobs_pruned, err) < 0)
        return -1;
    collect_ctx cc = {dead, err};
    return meta_chunk_dead_each(tx, before, collect_chunk, &cc, err);
}

/* Step 2.  Stops at the first failure: the store may be down. */
static int delete_bytes(es_store *st, const vec *dead, es_err *err)
{
    for (size_t i = 0; i < dead->n; i++) {
        const meta_chunk *c = &VEC_AT(dead, meta_chunk, i);
        chunk_loc loc = {c->container, c->offset, c->length, c->checksum};
        if (chunkstore_del(&st->cs, &loc, err) < 0) {
            log_msg(LOG_LVL_WARN,
                    "gc: deleting chunk %lld failed (%s); %zu dead chunk "
                    "rows stay for the next collection to delete",
                    (long long)c->id, err->msg, dead->n);
            return -1;
        }
    }
    return 0;
}

/* Step 3. */
static int delete_rows_tx(meta_tx *tx, const vec *dead, es_err *err)
{
    for (size_t i = 0; i < dead->n; i++)
        if (meta_chunk_delete(tx, VEC_AT(dead, meta_chunk, i).id, err) < 0)
            return -1;
    return 0;
}

static int free_dead(es_store *st, gc_report *rep, es_err *err)
{
    vec dead = VEC_INIT(meta_chunk);
    meta_tx *tx;
    int rc = meta_begin(st->meta, META_WRITE, &tx, err);
    if (rc == 0)
        rc = meta_end(tx, free_dead_tx(tx, dead_before(st), rep, &dead, err),
                      err);
    if (rc == 0)
        rc = delete_bytes(st, &dead, err);
    if (rc == 0 && dead.n > 0 &&
        (rc = meta_begin(st->meta, META_WRITE, &tx, err)) == 0)
        rc = meta_end(tx, delete_rows_tx(tx, &dead, err), err);
    for (size_t i = 0; rc == 0 && i < dead.n; i++) {
        rep->chunks_freed++;
        rep->bytes_freed += VEC_AT(&dead, meta_chunk, i).length;
    }
    vec_free(&dead);
    return rc;
}

/* ---- compaction
 * --------------------------------------------------------------- */

typedef struct moved {
    int64_t id;
    chunk_loc from, to;
} moved;

static int live_bytes(es_store *st, uint64_t pack, int64_t *out, es_err *err)
{
    meta_tx *tx;
    if (meta_begin(st->meta, META_READ, &tx, err) < 0)
        return -1;
    return meta_end(tx, meta_container_live_bytes(tx, pack, out, err), err);
}

static int collect_moved(void *arg, const meta_chunk *c)
{
    collect_ctx *cc = arg;
    moved *m = vec_grow(cc->v);
    if (!m)
        return es_errf(cc->err, 500, "out of memory");
    m->id = c->id;
    m->from = (chunk_loc){c->container, c->offset, c->length, c->checksum};
    return 0;
}

static int pack_chunks(es_store *st, uint64_t pack, vec *out, es_err *err)
{
    meta_tx *tx;
    collect_ctx cc = {out, err};
    if (meta_begin(st->meta, META_READ, &tx, err) < 0)
        return -1;
    int rc = meta_container_chunk_each(tx, pack, collect_moved, &cc, err);
    return meta_end(tx, rc, err);
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

static int repoint_tx(meta_tx *tx, const moved *m, size_t n, es_err *err)
{
    for (size_t i = 0; i < n; i++)
        if (meta_chunk_move(tx, m[i].id, m[i].to.container, m[i].to.offset,
                            err) < 0)
            return -1;
    return 0;
}

/* The pack's row goes in a transaction of its own (no chunk row names the
 * pack any more), then its file. */
static int forget_pack(es_store *st, uint64_t pack, es_err *err)
{
    meta_tx *tx;
    if (meta_begin(st->meta, META_WRITE, &tx, err) < 0 ||
        meta_end(tx, meta_container_forget(tx, pack, err), err) < 0)
        return -1;
    return chunkstore_drop(&st->cs, pack, err);
}

static int compact_pack(es_store *st, uint64_t pack, gc_report *rep,
                        es_err *err)
{
    vec chunks = VEC_INIT(moved);
    meta_tx *tx;
    int rc = pack_chunks(st, pack, &chunks, err);
    moved *m = chunks.items;
    size_t n = chunks.n;
    if (rc == 0)
        rc = copy_chunks(st, m, n, err);
    if (rc == 0 && (rc = meta_begin(st->meta, META_WRITE, &tx, err)) == 0)
        rc = meta_end(tx, repoint_tx(tx, m, n, err), err);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rep->bytes_moved += m[i].from.length;
    vec_free(&chunks);
    if (rc < 0)
        return -1;
    rep->packs_compacted++;
    return forget_pack(st, pack, err);
}

typedef struct compact_ctx {
    es_store *st;
    gc_report *rep;
    es_err *err;
    vec todo; /* of chunk_container, the sealed packs */
} compact_ctx;

/* Open containers are never touched.  With a grace time (replicas share
 * the chunk store), neither are containers sealed less than that long
 * ago: another replica may have sealed one and not yet committed the rows
 * that name its chunks, so it looks empty here (and a container that
 * stays unnamed, a crashed job's, is dropped once it is that old). */
static int collect_container(void *arg, const chunk_container *c)
{
    compact_ctx *cc = arg;
    if (c->open || (cc->st->gc_grace_s > 0 &&
                    c->mtime > es_now() - cc->st->gc_grace_s))
        return 0;
    if (vec_push(&cc->todo, c) < 0)
        return es_errf(cc->err, 500, "out of memory");
    return 0;
}

static int compact(es_store *st, gc_report *rep, es_err *err)
{
    compact_ctx cc = {st, rep, err, VEC_INIT(chunk_container)};
    int rc = chunkstore_iterate(&st->cs, collect_container, &cc, err);
    for (size_t i = 0; rc == 0 && i < cc.todo.n; i++) {
        int64_t live;
        const chunk_container *c = &VEC_AT(&cc.todo, chunk_container, i);
        if ((rc = live_bytes(st, c->id, &live, err)) < 0)
            break;
        if (live == 0) {
            rc = forget_pack(st, c->id, err);
            rep->packs_dropped++;
        } else if ((double)live < st->compact_below * (double)c->bytes) {
            rc = compact_pack(st, c->id, rep, err);
        }
    }
    vec_free(&cc.todo);
    return rc;
}

/* ---- entry points
 * ------------------------------------------------------------------ */

/* ---- spool objects no row names (S3) ----------------------------------------
 * An upload is copied into the bucket before its file version is recorded,
 * so an object no row names is either an upload still on its way to the
 * record or one whose replica died first.  Only objects older than the
 * grace time are taken for the second kind: the grace time must exceed the
 * longest upload (README "Scaling out"). */

typedef struct spool_name {
    char s[META_SPOOL_NAME_MAX]; /* "" once known to be named */
} spool_name;

typedef struct orphan_ctx {
    int64_t before;
    vec *names; /* spool_name */
    es_err *err;
} orphan_ctx;

static int old_spool_object(void *arg, const char *name, int64_t mtime)
{
    orphan_ctx *oc = arg;
    if (mtime <= 0 || mtime >= oc->before || strlen(name) >= META_SPOOL_NAME_MAX)
        return 0;
    spool_name *slot = vec_grow(oc->names);
    if (!slot)
        return es_errf(oc->err, 500, "out of memory");
    snprintf(slot->s, sizeof slot->s, "%s", name);
    return 0;
}

/* Blanks the names some file version still names. */
static int keep_named(es_store *st, vec *names, es_err *err)
{
    meta_tx *tx;
    if (meta_begin(st->meta, META_READ, &tx, err) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < names->n; i++) {
        char *name = VEC_AT(names, spool_name, i).s;
        int named = meta_spool_named(tx, name, err);
        if (named < 0)
            rc = -1;
        else if (named)
            name[0] = 0;
    }
    return meta_end(tx, rc, err);
}

static int orphan_spool_objects(es_store *st, gc_report *rep, es_err *err)
{
    if (!st->spool_remote || st->gc_grace_s <= 0)
        return 0;
    vec names = VEC_INIT(spool_name);
    orphan_ctx oc = {es_now() - st->gc_grace_s, &names, err};
    int rc = spool_remote_each(st, old_spool_object, &oc, err);
    if (rc == 0 && names.n > 0)
        rc = keep_named(st, &names, err);
    for (size_t i = 0; rc == 0 && i < names.n; i++) {
        const char *name = VEC_AT(&names, spool_name, i).s;
        if (name[0]) {
            spool_remove(st, name);
            rep->spool_objects_removed++;
        }
    }
    vec_free(&names);
    return rc;
}

int store_gc(es_store *st, json_t **out, es_err *err)
{
    gc_report rep = {0};
    pthread_mutex_lock(&st->gc_mu);
    pthread_rwlock_wrlock(&st->gc_lock);
    int rc = free_dead(st, &rep, err);
    if (rc == 0)
        rc = compact(st, &rep, err);
    pthread_rwlock_unlock(&st->gc_lock);
    if (rc == 0)
        rc = orphan_spool_objects(st, &rep, err);
    pthread_mutex_unlock(&st->gc_mu);
    if (rc < 0)
        return -1;
    *out = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "chunks_freed",
                     (json_int_t)rep.chunks_freed, "bytes_freed",
                     (json_int_t)rep.bytes_freed, "tensors_freed",
                     (json_int_t)rep.tensors_freed, "packs_dropped",
                     (json_int_t)rep.packs_dropped, "packs_compacted",
                     (json_int_t)rep.packs_compacted, "bytes_moved",
                     (json_int_t)rep.bytes_moved, "jobs_pruned",
                     (json_int_t)rep.jobs_pruned, "spool_objects_removed",
                     (json_int_t)rep.spool_objects_removed);
    return 0;
}

int gc_orphan_spools(es_store *st, es_err *err)
{
    DIR *dir = opendir(st->spool_dir);
    if (!dir)
        return es_errf(err, 500, "open %s", st->spool_dir);
    meta_tx *tx;
    if (meta_begin(st->meta, META_READ, &tx, err) < 0) {
        closedir(dir);
        return -1;
    }
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        int named = 0; /* tmp-: an upload that never finished */
        if (strncmp(e->d_name, "tmp-", 4) != 0 &&
            (named = meta_spool_named(tx, e->d_name, err)) < 0) {
            rc = -1;
            break;
        }
        if (!named) {
            char path[4096];
            store_spool_path(st, e->d_name, path, sizeof path);
            unlink(path);
        }
    }
    rc = meta_end(tx, rc, err);
    closedir(dir);
    return rc;
}
