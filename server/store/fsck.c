/*
 * fsck.c - elvesd fsck: the metadata checked against itself and against
 * the chunk store (store_fsck in store.h).
 *
 * Two parts:
 *   - the metadata's invariants (meta_check.c): reference counts, dead
 *     marks, pack totals, no reference to a missing row, delta tensors and
 *     their bases (the references of model families), blocks that tile
 *     every tensor and stored file, jobs that agree with their files;
 *   - every container the chunk rows name must exist in the chunk store
 *     and reach at least as far as its last chunk ends; a sealed container
 *     that no row names, and the bytes of containers that no live chunk
 *     fills, are reported as unreferenced space (GC and compaction take
 *     it; not a fault).
 * The metadata is read in one transaction, so a running elvesd does not
 * make it see half a commit.  The chunk store is listed before it: a
 * container another process adds meanwhile can only look unreferenced,
 * never missing.  --repair recomputes what the rows themselves say (the
 * counts and totals) in a write transaction, and refuses a local store
 * that a running elvesd has open.
 */
#include "store_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fsck_ctx {
    store_fsck_report *r;
    void (*line)(void *ctx, const char *text);
    void *line_ctx;
    vec containers;       /* of chunk_container, in id order */
    unsigned char *named; /* per container: some chunk row names it */
    es_err *err;
} fsck_ctx;

static void say(fsck_ctx *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(fsck_ctx *f, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    f->line(f->line_ctx, text);
}

static int on_check(void *arg, const meta_check_result *c)
{
    fsck_ctx *f = arg;
    f->r->checks++;
    if (c->problems == 0)
        return 0;
    f->r->problems += c->problems;
    f->r->repaired += c->repaired;
    say(f, "%s: %lld %s%s", c->name, (long long)c->problems, c->what,
        c->repaired     ? " (repaired)"
        : c->repairable ? " (--repair fixes this)"
                        : "");
    return 0;
}

static int on_container(void *arg, const chunk_container *c)
{
    fsck_ctx *f = arg;
    if (vec_push(&f->containers, c) < 0)
        return es_errf(f->err, 500, "out of memory");
    return 0;
}

static int cmp_container(const void *key, const void *item)
{
    uint64_t id = *(const uint64_t *)key;
    const chunk_container *c = item;
    return id < c->id ? -1 : id > c->id;
}

/* One container as the chunk rows see it. */
static int on_named(void *arg, uint64_t id, int64_t chunks, int64_t bytes,
                    uint64_t end)
{
    fsck_ctx *f = arg;
    const chunk_container *c =
        bsearch(&id, f->containers.items, f->containers.n,
                sizeof(chunk_container), cmp_container);
    f->r->chunks += chunks;
    f->r->chunk_bytes += bytes;
    if (!c) {
        f->r->problems += chunks;
        f->r->containers_missing++;
        say(f,
            "container %llu: missing from the chunk store, %lld chunks "
            "(%lld bytes) name it",
            (unsigned long long)id, (long long)chunks, (long long)bytes);
        return 0;
    }
    f->named[c - (const chunk_container *)f->containers.items] = 1;
    if (c->bytes < end) {
        f->r->problems++;
        f->r->containers_short++;
        say(f, "container %llu: %llu bytes, but its chunks reach %llu",
            (unsigned long long)id, (unsigned long long)c->bytes,
            (unsigned long long)end);
    } else if (!c->open && c->bytes > (uint64_t)bytes) {
        f->r->dead_bytes += (int64_t)(c->bytes - (uint64_t)bytes);
    }
    return 0;
}

static int check_meta(es_store *st, fsck_ctx *f, int repair)
{
    meta_tx *tx;
    if (meta_begin(st->meta, repair ? META_WRITE : META_READ, &tx, f->err) < 0)
        return -1;
    int rc = meta_check_each(tx, repair, es_now(), on_check, f, f->err);
    if (rc == 0)
        rc = meta_chunk_container_each(tx, on_named, f, f->err);
    return meta_end(tx, rc, f->err);
}

int store_fsck(es_store *st, int repair,
               void (*line)(void *ctx, const char *text), void *line_ctx,
               store_fsck_report *r, es_err *err)
{
    fsck_ctx f = {r, line, line_ctx, VEC_INIT(chunk_container), NULL, err};
    int rc;

    memset(r, 0, sizeof *r);
    if (repair && !st->database &&
        store_at_rest(st->data_dir, "--repair changes a store at rest", err) <
            0)
        return -1;
    rc = chunkstore_iterate(&st->cs, on_container, &f, err);
    if (rc == 0) {
        f.named = calloc(f.containers.n + 1, 1);
        rc = f.named ? check_meta(st, &f, repair)
                     : es_errf(err, 500, "out of memory");
    }
    for (size_t i = 0; rc == 0 && i < f.containers.n; i++) {
        const chunk_container *c = &VEC_AT(&f.containers, chunk_container, i);
        r->containers++;
        r->container_bytes += (int64_t)c->bytes;
        if (f.named[i] || c->open)
            continue;
        r->orphans++;
        r->dead_bytes += (int64_t)c->bytes;
    }
    free(f.named);
    vec_free(&f.containers);
    return rc < 0 ? -1 : 0;
}
