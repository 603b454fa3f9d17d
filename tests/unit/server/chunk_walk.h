/*
 * chunk_walk.h - what chunkstore_iterate reported, for the chunk store
 * tests: cw_record is the callback, filling a cw_walk (and failing the
 * test if ids do not come in increasing order); cw_has looks an id up.
 * Header-only so each test stays one program.
 */
#ifndef CHUNK_WALK_H
#define CHUNK_WALK_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "chunkstore.h"

#define CW_MAX 256

typedef struct cw_walk {
    uint64_t ids[CW_MAX];
    uint64_t bytes[CW_MAX];
    int open[CW_MAX];
    size_t n;
} cw_walk;

static __attribute__((unused)) int cw_record(void *ctx,
                                             const chunk_container *c)
{
    cw_walk *w = ctx;
    if (w->n > 0 && c->id <= w->ids[w->n - 1])
        fail_msg("iterate: container ids out of order");
    if (w->n < CW_MAX) {
        w->ids[w->n] = c->id;
        w->bytes[w->n] = c->bytes;
        w->open[w->n] = c->open;
        w->n++;
    }
    return 0;
}

static __attribute__((unused)) int cw_has(const cw_walk *w, uint64_t id)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->ids[i] == id)
            return 1;
    return 0;
}

#endif /* CHUNK_WALK_H */
