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
#define FC_LASTING UINT64_MAX

typedef struct fc_fault {
    uint64_t calls;   /* calls made so far */
    uint64_t failed;  /* of them, failed on purpose */
    uint64_t fail_at; /* first call number to fail (0: none armed) */
    uint64_t count;   /* calls to fail from fail_at on */
    int status;
    char msg[128];
} fc_fault;

typedef struct fc_state {
    chunkstore inner;
    pthread_mutex_t mu;
    fc_fault op[FC_NOPS];
    int del_removes; /* set before the store opens */
    chunk_loc *gone; /* with del_removes: chunks deleted */
    size_t ngone, cap_gone;
} fc_state;

FC_FN const char *fc_op_name(fc_op op)
{
    static const char *names[FC_NOPS] = {"put", "get",  "fetch",  "sync",
                                         "del", "drop", "iterate"};
    return names[op];
}

FC_FN void fc_init(fc_state *fc)
{
    memset(fc, 0, sizeof *fc);
    pthread_mutex_init(&fc->mu, NULL);
}

FC_FN void fc_destroy(fc_state *fc)
{
    pthread_mutex_destroy(&fc->mu);
    free(fc->gone);
}

/* Fails `count` calls of op (FC_LASTING: every call until fc_clear),
 * starting with the nth call from now (nth >= 1), with status and msg
 * (NULL: "injected <op> failure"). */
FC_FN void fc_fail(fc_state *fc, fc_op op, uint64_t nth, uint64_t count,
                   int status, const char *msg)
{
    pthread_mutex_lock(&fc->mu);
    fc_fault *f = &fc->op[op];
    f->fail_at = f->calls + (nth ? nth : 1);
    f->count = count;
    f->status = status;
    if (msg)
        snprintf(f->msg, sizeof f->msg, "%s", msg);
    else
        snprintf(f->msg, sizeof f->msg, "injected %s failure", fc_op_name(op));
    pthread_mutex_unlock(&fc->mu);
}

/* Disarms op's fault (the outage ends); the counters stay. */
FC_FN void fc_clear(fc_state *fc, fc_op op)
{
    pthread_mutex_lock(&fc->mu);
    fc->op[op].fail_at = 0;
    pthread_mutex_unlock(&fc->mu);
}

FC_FN void fc_clear_all(fc_state *fc)
{
    for (int op = 0; op < FC_NOPS; op++)
        fc_clear(fc, (fc_op)op);
}

FC_FN uint64_t fc_calls(fc_state *fc, fc_op op)
{
    pthread_mutex_lock(&fc->mu);
    uint64_t n = fc->op[op].calls;
    pthread_mutex_unlock(&fc->mu);
    return n;
}

FC_FN uint64_t fc_failed(fc_state *fc, fc_op op)
{
    pthread_mutex_lock(&fc->mu);
    uint64_t n = fc->op[op].failed;
    pthread_mutex_unlock(&fc->mu);
    return n;
}

/* Counts a call of op; -1 with err filled if this one is to fail. */
FC_FN int fc_enter(fc_state *fc, fc_op op, es_err *err)
{
    pthread_mutex_lock(&fc->mu);
    fc_fault *f = &fc->op[op];
    uint64_t n = ++f->calls;
    int fail = f->fail_at && n >= f->fail_at && n - f->fail_at < f->count;
    int status = f->status;
    char msg[128];
    if (fail) {
        f->failed++;
        memcpy(msg, f->msg, sizeof msg);
    }
    pthread_mutex_unlock(&fc->mu);
    if (!fail)
        return 0;
    return es_errf(err, status, "%s (call %llu)", msg, (unsigned long long)n);
}

/* With del_removes: 404 if the chunk at loc was deleted. */
FC_FN int fc_check_gone(fc_state *fc, const chunk_loc *loc, es_err *err)
{
    pthread_mutex_lock(&fc->mu);
    int gone = 0;
    for (size_t i = 0; i < fc->ngone && !gone; i++)
        gone = fc->gone[i].container == loc->container &&
               fc->gone[i].offset == loc->offset;
    pthread_mutex_unlock(&fc->mu);
    if (!gone)
        return 0;
    return es_errf(err, 404, "chunk %llu:%llu was deleted",
                   (unsigned long long)loc->container,
                   (unsigned long long)loc->offset);
}

FC_FN void fc_remember_gone(fc_state *fc, const chunk_loc *loc)
{
    pthread_mutex_lock(&fc->mu);
    if (fc->ngone == fc->cap_gone) {
        size_t cap = fc->cap_gone ? fc->cap_gone * 2 : 64;
        chunk_loc *grown = realloc(fc->gone, cap * sizeof *grown);
        if (!grown)
            abort();
        fc->gone = grown;
        fc->cap_gone = cap;
    }
    fc->gone[fc->ngone++] = *loc;
    pthread_mutex_unlock(&fc->mu);
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
