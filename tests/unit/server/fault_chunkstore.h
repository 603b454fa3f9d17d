/*
 * fault_chunkstore.h - a chunk store that wraps the real one and fails the
 * Nth call of an operation on request, as SQLite's src/test_vfs.c wraps the
 * real VFS: the way tests reach the store's error paths (a pack write that
 * fails, an fsync that fails, an object store that is down for a while).
 *
 * Use: fc_init(&fc), then open the store with store_config.wrap_chunks =
 * fc_wrap and .wrap_ctx = &fc; store_close closes the inner chunk store
 * through the wrapper; fc_destroy(&fc) after that.  fc_fail arms a fault,
 * fc_clear disarms it; fc_calls and fc_failed count what happened.
 *
 * A failing call does not reach the inner store (nothing is written,
 * synced or dropped) and reports the armed status and message.  Every call
 * otherwise goes to the inner store unchanged, except with del_removes
 * set: then a chunk del succeeded on is gone, as from an object store
 * whose delete really removes it (the local packs only account for it),
 * and get or fetch of it answers 404.  Counters and faults are
 * guarded by one mutex: ingest jobs call in from worker threads.
 * Header-only so each test stays one program.
 */
#ifndef FAULT_CHUNKSTORE_H
#define FAULT_CHUNKSTORE_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunkstore.h"
#include "fault_points.h"
#include "vec.h"

#define FC_FN static __attribute__((unused))

typedef enum fc_op {
    FC_PUT,
    FC_GET,
    FC_FETCH,
    FC_SYNC,
    FC_DEL,
    FC_DROP,
    FC_ITERATE,
    FC_NOPS
} fc_op;

/* fc_fail's count for an outage that lasts until fc_clear. */
#define FC_LASTING FP_LASTING

typedef struct fc_state {
    chunkstore inner;
    fault_points fp;
    int del_removes; /* set before the store opens */
    vec gone;        /* with del_removes: the chunk_locs deleted */
    /* called (then forgotten) at the next sync, on the syncing thread:
     * for what happens while a job's chunks are made durable */
    void (*on_sync)(void *ctx);
    void *on_sync_ctx;
} fc_state;

static const char *const fc_op_names[FC_NOPS] = {
    "put", "get", "fetch", "sync", "del", "drop", "iterate"};

FC_FN const char *fc_op_name(fc_op op)
{
    return fc_op_names[op];
}

FC_FN void fc_init(fc_state *fc)
{
    memset(fc, 0, sizeof *fc);
    fp_init(&fc->fp, fc_op_names);
    fc->gone = VEC_INIT(chunk_loc);
}

FC_FN void fc_destroy(fc_state *fc)
{
    fp_destroy(&fc->fp);
    vec_free(&fc->gone);
}

/* Fails `count` calls of op (FC_LASTING: every call until fc_clear),
 * starting with the nth call from now (nth >= 1), with status and msg
 * (NULL: "injected <op> failure"). */
FC_FN void fc_fail(fc_state *fc, fc_op op, uint64_t nth, uint64_t count,
                   int status, const char *msg)
{
    fp_fail(&fc->fp, op, nth, count, status, msg);
}

/* Disarms op's fault (the outage ends); the counters stay. */
FC_FN void fc_clear(fc_state *fc, fc_op op)
{
    fp_clear(&fc->fp, op);
}

FC_FN void fc_clear_all(fc_state *fc)
{
    fp_clear_all(&fc->fp);
}

FC_FN uint64_t fc_calls(fc_state *fc, fc_op op)
{
    return fp_calls(&fc->fp, op);
}

FC_FN uint64_t fc_failed(fc_state *fc, fc_op op)
{
    return fp_failed(&fc->fp, op);
}

FC_FN int fc_enter(fc_state *fc, fc_op op, es_err *err)
{
    return fp_enter(&fc->fp, op, err);
}

/* With del_removes: 404 if the chunk at loc was deleted. */
FC_FN int fc_check_gone(fc_state *fc, const chunk_loc *loc, es_err *err)
{
    pthread_mutex_lock(&fc->fp.mu);
    int gone = 0;
    for (size_t i = 0; i < fc->gone.n && !gone; i++) {
        const chunk_loc *g = &VEC_AT(&fc->gone, chunk_loc, i);
        gone = g->container == loc->container && g->offset == loc->offset;
    }
    pthread_mutex_unlock(&fc->fp.mu);
    if (!gone)
        return 0;
    return es_errf(err, 404, "chunk %llu:%llu was deleted",
                   (unsigned long long)loc->container,
                   (unsigned long long)loc->offset);
}

FC_FN void fc_remember_gone(fc_state *fc, const chunk_loc *loc)
{
    pthread_mutex_lock(&fc->fp.mu);
    if (vec_push(&fc->gone, loc) < 0)
        abort(); /* a test out of memory */
    pthread_mutex_unlock(&fc->fp.mu);
}

/* ---- the ops table: count, maybe fail, else forward -------------------- */

FC_FN int fc_put(void *be, const void *data, size_t len, chunk_loc *out,
                 es_err *err)
{
    fc_state *fc = be;
    if (fc_enter(fc, FC_PUT, err) < 0)
        return -1;
    return fc->inner.ops->put(fc->inner.be, data, len, out, err);
}

FC_FN int fc_get(void *be, const chunk_loc *loc, uint64_t off, size_t len,
                 void *buf, es_err *err)
{
    fc_state *fc = be;
    if (fc_enter(fc, FC_GET, err) < 0 || fc_check_gone(fc, loc, err) < 0)
        return -1;
    return fc->inner.ops->get(fc->inner.be, loc, off, len, buf, err);
}

FC_FN int fc_fetch(void *be, const chunk_loc *loc, void *buf, es_err *err)
{
    fc_state *fc = be;
    if (fc_enter(fc, FC_FETCH, err) < 0 || fc_check_gone(fc, loc, err) < 0)
        return -1;
    if (fc->inner.ops->fetch == NULL)
        return fc->inner.ops->get(fc->inner.be, loc, 0, loc->length, buf, err);
    return fc->inner.ops->fetch(fc->inner.be, loc, buf, err);
}

FC_FN int fc_del(void *be, const chunk_loc *loc, es_err *err)
{
    fc_state *fc = be;
    if (fc_enter(fc, FC_DEL, err) < 0 ||
        fc->inner.ops->del(fc->inner.be, loc, err) < 0)
        return -1;
    if (fc->del_removes)
        fc_remember_gone(fc, loc);
    return 0;
}

FC_FN int fc_iterate(void *be, int (*fn)(void *ctx, const chunk_container *c),
                     void *ctx, es_err *err)
{
    fc_state *fc = be;
    if (fc_enter(fc, FC_ITERATE, err) < 0)
        return -1;
    return fc->inner.ops->iterate(fc->inner.be, fn, ctx, err);
}

FC_FN int fc_drop(void *be, uint64_t container, es_err *err)
{
    fc_state *fc = be;
    if (fc_enter(fc, FC_DROP, err) < 0)
        return -1;
    return fc->inner.ops->drop(fc->inner.be, container, err);
}

FC_FN int fc_sync(void *be, es_err *err)
{
    fc_state *fc = be;
    if (fc_enter(fc, FC_SYNC, err) < 0)
        return -1;
    void (*hook)(void *) = fc->on_sync;
    fc->on_sync = NULL;
    if (hook)
        hook(fc->on_sync_ctx);
    return fc->inner.ops->sync(fc->inner.be, err);
}

FC_FN void fc_close(void *be)
{
    fc_state *fc = be;
    chunkstore_close(&fc->inner);
    fc->inner.ops = NULL;
}

/* Matches store_config.wrap_chunks: ctx is an fc_init'ed fc_state, which
 * takes over the chunk store just opened and puts itself in its place. */
FC_FN int fc_wrap(chunkstore *cs, void *ctx, es_err *err)
{
    static const chunkstore_ops ops = {
        .version = CHUNKSTORE_OPS_VERSION,
        .name = "fault",
        .put = fc_put,
        .get = fc_get,
        .fetch = fc_fetch,
        .del = fc_del,
        .iterate = fc_iterate,
        .drop = fc_drop,
        .sync = fc_sync,
        .close = fc_close,
    };
    fc_state *fc = ctx;
    if (fc->inner.ops)
        return es_errf(err, 500, "fault chunk store already wraps one");
    fc->inner = *cs;
    cs->ops = &ops;
    cs->be = fc;
    return 0;
}

#endif /* FAULT_CHUNKSTORE_H */
