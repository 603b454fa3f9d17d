/*
 * container_helpers.h - shared by test_container.c and test_range.c:
 * a growable memory sink for container bytes, a block
 * fetcher over a memory buffer that counts its calls, and a tiny
 * safetensors writer for hand-made checkpoints.
 */
#ifndef CONTAINER_HELPERS_H
#define CONTAINER_HELPERS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elves.h"
#include "test_files.h"

/* Container bytes collected through elves_write_fn. */
typedef struct th_buf {
    uint8_t *p;
    size_t len, cap;
    int fail_after; /* > 0: fail the call with this number */
    int calls;
} th_buf;

static inline int th_write(void *ctx, const uint8_t *data, size_t len)
{
    th_buf *b = ctx;

    if (b->fail_after && ++b->calls >= b->fail_after)
        return -1;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len)
            cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
    return 0;
}

/* Block fetcher over a container in memory, with bounds checks and a call
 * count. */
typedef struct th_fetch {
    const uint8_t *p;
    size_t len;
    size_t calls;
    uint64_t *locs; /* if not NULL, the loc of each call (up to cap) */
    size_t locs_cap;
} th_fetch;

static inline int th_fetch_fn(void *ctx, const elves_block_ref *ref,
                              uint8_t *buf)
{
    th_fetch *f = ctx;

    if (f->locs && f->calls < f->locs_cap)
        f->locs[f->calls] = ref->loc;
    f->calls++;
    if (ref->loc > f->len || ref->enc_len > f->len - ref->loc)
        return -1;
    memcpy(buf, f->p + ref->loc, ref->enc_len);
    return 0;
}

/* Compresses data into *out (a th_buf); returns the status. */
static inline int th_compress(th_buf *out, elves_container **info,
                              const uint8_t *data, size_t len, elves_mode mode,
                              unsigned threads, uint32_t block_size)
{
    elves_encode_opts o = ELVES_ENCODE_OPTS_INIT;
    elves_error err = {0, ""};

    o.mode = mode;
    o.threads = threads;
    o.block_size = block_size;
    memset(out, 0, sizeof *out);
    int rc = elves_container_compress(info, data, len, &o, th_write, out, &err);
    if (rc)
        fprintf(stderr, "compress: %s\n", err.msg);
    return rc;
}

/* Opens a container held whole in memory. */
static inline int th_open(elves_container **c, const th_buf *b)
{
    elves_error err = {0, ""};
    size_t need = 0;

    return elves_container_open(c, b->p, b->len, b->len, &need, &err);
}

/* A safetensors file made of the given tensors, data back to back. */
typedef struct th_tensor {
    const char *name;
    const char *dtype;
    uint32_t ndim;
    uint64_t shape[4];
    const uint8_t *data;
    size_t len;
} th_tensor;

static inline uint8_t *th_safetensors(const th_tensor *t, size_t n,
                                      size_t *out_len)
{
    size_t cap = 256 + n * 256, hl = 0, off = 0, dl = 0;
    char *h = malloc(cap);

    hl += (size_t)snprintf(h + hl, cap - hl, "{");
    for (size_t i = 0; i < n; i++) {
        hl += (size_t)snprintf(h + hl, cap - hl,
                               "%s\"%s\":{\"dtype\":\"%s\","
                               "\"shape\":[",
                               i ? "," : "", t[i].name, t[i].dtype);
        for (uint32_t d = 0; d < t[i].ndim; d++)
            hl += (size_t)snprintf(h + hl, cap - hl, "%s%llu", d ? "," : "",
                                   (unsigned long long)t[i].shape[d]);
        hl +=
            (size_t)snprintf(h + hl, cap - hl, "],\"data_offsets\":[%zu,%zu]}",
                             off, off + t[i].len);
        off += t[i].len;
    }
    hl += (size_t)snprintf(h + hl, cap - hl, "}");
    while (hl % 8)
        h[hl++] = ' ';
    dl = off;
    uint8_t *f = malloc(8 + hl + dl + 1);
    uint64_t hl64 = hl;
    memcpy(f, &hl64, 8);
    memcpy(f + 8, h, hl);
    off = 8 + hl;
    for (size_t i = 0; i < n; i++) {
        if (t[i].len)
            memcpy(f + off, t[i].data, t[i].len);
        off += t[i].len;
    }
    free(h);
    *out_len = 8 + hl + dl;
    return f;
}

/* Deterministic pseudo-random numbers (xorshift64*). */
static inline uint64_t th_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* Gaussian-ish F32 weights (sum of uniforms), scaled small like real
 * weights, with a few values >= 1 to exercise outliers. */
static inline void th_weights(float *w, size_t n, uint64_t seed)
{
    uint64_t s = seed | 1;
    for (size_t i = 0; i < n; i++) {
        double v = 0;
        for (int k = 0; k < 4; k++)
            v += (double)(th_rand(&s) >> 11) / 9007199254740992.0 - 0.5;
        w[i] = (float)(v * 0.1);
        if (i % 997 == 5)
            w[i] = (float)(v * 10);
    }
}

#endif /* CONTAINER_HELPERS_H */
