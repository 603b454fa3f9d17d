/*
 * fault_meta.h - a metadata backend that wraps the real one (meta.h) and
 * fails the Nth begin or commit of a write transaction on request, as
 * fault_chunkstore.h does for the chunk store: the database that is gone, full
 * or locked at the moment a transaction starts or ends.
 *
 * Use: fm_init(&fm), then open the store with store_config.wrap_meta =
 * fm_wrap and .wrap_meta_ctx = &fm; store_close closes the real backend
 * through the wrapper; fm_destroy(&fm) after that.  fm_fail arms a fault
 * (FM_BEGIN or FM_COMMIT), fm_clear disarms it, fm_calls counts.
 *
 * How it wraps: meta.h's calls go through tx->ops, so the wrapper hands
 * out the real backend's own transaction with its ops pointed at a copy
 * of the real table in which begin, commit and rollback are the
 * wrapper's; every other call runs the real backend's code on its own
 * transaction.  There are two copies, one for write transactions and one
 * for reads, so a commit knows its transaction's mode even when several
 * are open at once (PostgreSQL).  (Backends never read tx->ops themselves.)  A failed commit
 * rolls the real transaction back, as a commit that fails does.
 */
#ifndef FAULT_META_H
#define FAULT_META_H

#include <stdlib.h>
#include <string.h>

#include "fault_points.h"
#include "meta.h"

#define FM_FN static __attribute__((unused))

typedef enum fm_op { FM_BEGIN, FM_COMMIT, FM_NOPS } fm_op;

#define FM_LASTING FP_LASTING

typedef struct fm_state {
    meta base;      /* what the store holds: ops = &ops below */
    meta *inner;    /* the real backend */
    meta_ops ops;      /* the real table, begin/commit/rollback replaced */
    meta_ops read_ops; /* the same, handed to read transactions */
    fault_points fp;
} fm_state;

static const char *const fm_op_names[FM_NOPS] = {"begin", "commit"};

FM_FN void fm_init(fm_state *fm)
{
    memset(fm, 0, sizeof *fm);
    fp_init(&fm->fp, fm_op_names);
}

FM_FN void fm_destroy(fm_state *fm)
{
    fp_destroy(&fm->fp);
}

/* As fc_fail (fault_chunkstore.h). */
FM_FN void fm_fail(fm_state *fm, fm_op op, uint64_t nth, uint64_t count,
                   int status, const char *msg)
{
    fp_fail(&fm->fp, op, nth, count, status, msg);
}

FM_FN void fm_clear(fm_state *fm, fm_op op)
{
    fp_clear(&fm->fp, op);
}

FM_FN uint64_t fm_calls(fm_state *fm, fm_op op)
{
    return fp_calls(&fm->fp, op);
}

FM_FN uint64_t fm_failed(fm_state *fm, fm_op op)
{
    return fp_failed(&fm->fp, op);
}

/* The one fm_state of the store under test (the wrapped calls get only a
 * transaction, not their wrapper). */
static fm_state *fm_current;

FM_FN int fm_begin(meta *m, meta_mode mode, meta_tx **tx, es_err *err)
{
    fm_state *fm = (fm_state *)m;
    if (mode == META_WRITE && fp_enter(&fm->fp, FM_BEGIN, err) < 0)
        return -1;
    if (fm->inner->ops->begin(fm->inner, mode, tx, err) < 0)
        return -1;
    (*tx)->ops = mode == META_WRITE ? &fm->ops : &fm->read_ops;
    return 0;
}

FM_FN int fm_commit(meta_tx *tx, es_err *err)
{
    fm_state *fm = fm_current;
    const meta_ops *real = fm->inner->ops;
    int writes = tx->ops == &fm->ops;
    tx->ops = real;
    if (writes && fp_enter(&fm->fp, FM_COMMIT, err) < 0) {
        real->rollback(tx);
        return -1;
    }
    return real->commit(tx, err);
}

FM_FN void fm_rollback(meta_tx *tx)
{
    const meta_ops *real = fm_current->inner->ops;
    tx->ops = real;
    real->rollback(tx);
}

FM_FN void fm_close(meta *m)
{
    fm_state *fm = (fm_state *)m;
    meta_close(fm->inner);
    fm->inner = NULL;
    fm_current = NULL;
}

/* Matches store_config.wrap_meta: ctx is an fm_init'ed fm_state, which
 * takes over the backend just opened and puts itself in its place. */
FM_FN int fm_wrap(meta **m, void *ctx, es_err *err)
{
    fm_state *fm = ctx;
    if (fm->inner || fm_current)
        return es_errf(err, 500, "fault metadata backend already wraps one");
    fm->inner = *m;
    fm->ops = *(*m)->ops;
    fm->ops.name = "fault";
    fm->ops.begin = fm_begin;
    fm->ops.commit = fm_commit;
    fm->ops.rollback = fm_rollback;
    fm->ops.close = fm_close;
    fm->read_ops = fm->ops;
    fm->base.ops = &fm->ops;
    fm_current = fm;
    *m = &fm->base;
    return 0;
}

#endif /* FAULT_META_H */
