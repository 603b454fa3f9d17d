/*
 * test_range.c - random access: elves_blocks_cover on hand-made maps, and
 * elves_decode_range on real containers at every boundary (first and last
 * byte, block edges, single bytes, across segments, through dedup'd and
 * empty segments), with a fetch counter that proves only the covering
 * blocks are read, and the same ranges through elves_decode_range_mem;
 * plus elves_encode_segment and elves_decode_blocks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "container_helpers.h"
#include "elves.h"

/* ------------------------------------------------------------------------ */
/* elves_blocks_cover                                                       */
/* ------------------------------------------------------------------------ */

static void expect_cover(const elves_block_ref *m, size_t n, uint64_t a,
                         uint64_t z, int rc, size_t b, size_t e)
{
    size_t gb = 99, ge = 99;
    assert_int_equal(elves_blocks_cover(&gb, &ge, m, n, a, z), rc);
    if (rc == ELVES_OK) {
        assert_int_equal(gb, b);
        assert_int_equal(ge, e);
    }
}

static void test_cover_handmade_maps(void **state)
{
    const elves_block_ref m[3] = {
        {0, 10, 30, 8}, {10, 10, 30, 38}, {20, 5, 25, 68}};
    const elves_block_ref gap[2] = {{0, 10, 30, 8}, {12, 10, 30, 38}};
    const elves_block_ref overlap[2] = {{0, 10, 30, 8}, {8, 10, 30, 38}};
    const elves_block_ref empty_blk[3] = {
        {0, 10, 30, 8}, {10, 0, 20, 38}, {10, 5, 25, 58}};

    expect_cover(m, 3, 0, 0, ELVES_OK, 0, 1);
    expect_cover(m, 3, 9, 9, ELVES_OK, 0, 1);
    expect_cover(m, 3, 9, 10, ELVES_OK, 0, 2);
    expect_cover(m, 3, 10, 19, ELVES_OK, 1, 2);
    expect_cover(m, 3, 0, 24, ELVES_OK, 0, 3);
    expect_cover(m, 3, 24, 24, ELVES_OK, 2, 3);
    expect_cover(m, 3, 19, 20, ELVES_OK, 1, 3);
    expect_cover(m, 3, 5, 3, ELVES_E_RANGE, 0, 0);
    expect_cover(m, 3, 0, 25, ELVES_E_RANGE, 0, 0);
    expect_cover(m, 3, 25, 25, ELVES_E_RANGE, 0, 0);
    expect_cover(m, 3, UINT64_MAX, UINT64_MAX, ELVES_E_RANGE, 0, 0);
    expect_cover(m, 0, 0, 0, ELVES_E_RANGE, 0, 0);
    expect_cover(gap, 2, 11, 11, ELVES_E_CORRUPT, 0, 0);
    expect_cover(gap, 2, 0, 15, ELVES_E_CORRUPT, 0, 0);
    expect_cover(gap, 2, 13, 15, ELVES_OK, 1, 2);
    expect_cover(overlap, 2, 0, 9, ELVES_E_CORRUPT, 0, 0);
    expect_cover(empty_blk, 3, 5, 12, ELVES_E_CORRUPT, 0, 0);

    size_t b, e;
    assert_int_equal(elves_blocks_cover(NULL, &e, m, 3, 0, 0), ELVES_E_INVALID);
    assert_int_equal(elves_blocks_cover(&b, &e, NULL, 3, 0, 0),
                     ELVES_E_INVALID);
}

/* ------------------------------------------------------------------------ */
/* A test file with every kind of segment boundary                          */
/* ------------------------------------------------------------------------ */

#define BS 4096u

typedef struct fixture {
    uint8_t *file;
    size_t len;
    th_buf box;
    elves_container *c;
} fixture;

static int setup(void **state)
{
    static float w[10000], v[3001];
    static int32_t ids[11];
    static uint8_t bytes[3001];
    fixture *fx = calloc(1, sizeof *fx);

    th_weights(w, 10000, 11);
    th_weights(v, 3001, 12);
    for (int i = 0; i < 11; i++)
        ids[i] = i * 1000;
    for (int i = 0; i < 3001; i++)
        bytes[i] = (uint8_t)(i * i);
    th_tensor t[7] = {
        {"w", "F32", 2, {100, 100}, (uint8_t *)w, sizeof w},
        {"none", "F32", 2, {0, 4}, NULL, 0},
        {"ids", "I32", 1, {11}, (uint8_t *)ids, sizeof ids},
        {"w_copy", "F32", 2, {100, 100}, (uint8_t *)w, sizeof w},
        {"none2", "U8", 1, {0}, NULL, 0},
        {"bytes", "U8", 1, {3001}, bytes, sizeof bytes},
        {"v", "F32", 1, {3001}, (uint8_t *)v, sizeof v},
    };
    fx->file = th_safetensors(t, 7, &fx->len);
    assert_int_equal(th_compress(&fx->box, NULL, fx->file, fx->len,
                                 ELVES_MODE_LOSSLESS, 1, BS),
                     ELVES_OK);
    assert_int_equal(th_open(&fx->c, &fx->box), ELVES_OK);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    elves_container_free(fx->c);
    free(fx->box.p);
    free(fx->file);
    free(fx);
    return 0;
}

static const elves_container_segment *seg_named(const elves_container *c,
                                                const char *name)
{
    for (size_t i = 0; i < c->nsegments; i++)
        if (c->segments[i].seg.name &&
            strcmp(c->segments[i].seg.name, name) == 0)
            return &c->segments[i];
    fail_msg("no segment %s", name);
    return NULL;
}

/* [a, z] decoded from the container in memory, without fetches, must be
 * the original too, with nothing written past the end. */
static void check_range_mem(const fixture *fx, uint64_t a, uint64_t z,
                            unsigned threads)
{
    const elves_container *c = fx->c;
    elves_error err = {0, ""};
    size_t n = (size_t)(z - a + 1);
    uint8_t *out = malloc(n + 1);

    out[n] = 0xC3;
    int rc = elves_decode_range_mem(out, c->blocks, c->nblocks, a, z, fx->box.p,
                                    fx->box.len, NULL, threads, &err);
    if (rc)
        fail_msg("in memory, range %llu-%llu: %s", (unsigned long long)a,
                 (unsigned long long)z, err.msg);
    assert_memory_equal(out, fx->file + a, n);
    assert_int_equal(out[n], 0xC3);
    free(out);
}

/* Decodes [a, z] on `threads` threads, compares with the original and
 * checks that exactly the covering blocks were fetched, each once; then
 * the same range from memory. */
static void check_range(const fixture *fx, uint64_t a, uint64_t z,
                        unsigned threads)
{
    const elves_container *c = fx->c;
    uint64_t locs[4096];
    th_fetch f = {fx->box.p, fx->box.len, 0, locs, 4096};
    elves_error err = {0, ""};
    size_t n = (size_t)(z - a + 1), want = 0;
    uint8_t *out = malloc(n + 2);

    out[n] = 0xA5;
    out[n + 1] = 0x5A;
    int rc = elves_decode_range(out, c->blocks, c->nblocks, a, z, th_fetch_fn,
                                &f, NULL, threads, &err);
    if (rc)
        fail_msg("range %llu-%llu: %s", (unsigned long long)a,
                 (unsigned long long)z, err.msg);
    assert_memory_equal(out, fx->file + a, n);
    assert_int_equal(out[n], 0xA5); /* nothing written past the end */
    assert_int_equal(out[n + 1], 0x5A);
    for (size_t k = 0; k < c->nblocks; k++) {
        const elves_block_ref *r = &c->blocks[k];
        if (r->raw_offset > z || r->raw_offset + r->raw_len <= a)
            continue;
        assert_true(want < f.calls);
        assert_int_equal(locs[want], r->loc); /* in file order */
        want++;
    }
    assert_int_equal(f.calls, want);
    free(out);
    check_range_mem(fx, a, z, threads);
}

static void test_first_and_last_byte(void **state)
{
    fixture *fx = *state;
    check_range(fx, 0, 0, 1);
    check_range(fx, fx->len - 1, fx->len - 1, 1);
    check_range(fx, 0, fx->len - 1, 1);
    check_range(fx, 0, fx->len - 1, 4);
}

static void test_block_edges(void **state)
{
    fixture *fx = *state;
    const elves_container *c = fx->c;

    assert_true(c->nblocks > 10);
    for (size_t k = 0; k < c->nblocks; k++) {
        const elves_block_ref *r = &c->blocks[k];
        uint64_t s = r->raw_offset, e = s + r->raw_len - 1;
        check_range(fx, s, s, 1); /* first byte of the block */
        check_range(fx, e, e, 1); /* last byte of the block */
        check_range(fx, s, e, 1); /* exactly the block */
        if (s > 0)
            check_range(fx, 0, s - 1, 2); /* ends at a block boundary */
        if (e + 1 < fx->len)
            check_range(fx, e + 1, fx->len - 1, 2); /* starts at one */
        if (k + 1 < c->nblocks)
            check_range(fx, e, e + 1, 1); /* straddles a boundary */
    }
}

static void test_across_segments(void **state)
{
    fixture *fx = *state;
    const elves_container *c = fx->c;
    const elves_container_segment *w = seg_named(c, "w"),
                                  *cp = seg_named(c, "w_copy"),
                                  *ids = seg_named(c, "ids"),
                                  *none = seg_named(c, "none"),
                                  *none2 = seg_named(c, "none2"),
                                  *bytes = seg_named(c, "bytes");

    assert_int_equal(cp->dedup_of, (int)(w - c->segments));
    assert_int_equal(none->nblocks, 0);
    assert_int_equal(none->seg.length, 0);
    /* Middle of w to middle of ids, through the empty tensor. */
    check_range(fx, w->seg.offset + 777, ids->seg.offset + 5, 2);
    /* All of the dedup'd copy, and pieces of it. */
    check_range(fx, cp->seg.offset, cp->seg.offset + cp->seg.length - 1, 4);
    check_range(fx, cp->seg.offset + 100, cp->seg.offset + 100, 1);
    check_range(fx, cp->seg.offset - 3, cp->seg.offset + 5000, 2);
    check_range(fx, cp->seg.offset + cp->seg.length - 2, bytes->seg.offset + 1,
                2); /* copy, none2, bytes */
    /* Around the empty segments' (shared) offsets. */
    check_range(fx, none->seg.offset - 1, none->seg.offset, 1);
    check_range(fx, none2->seg.offset - 1, none2->seg.offset, 1);
    check_range(fx, none2->seg.offset, none2->seg.offset, 1);
    /* The header alone, and header into the first tensor. */
    check_range(fx, 0, w->seg.offset - 1, 1);
    check_range(fx, 0, w->seg.offset, 1);
}

static void test_bad_ranges(void **state)
{
    fixture *fx = *state;
    const elves_container *c = fx->c;
    th_fetch f = {fx->box.p, fx->box.len, 0, NULL, 0};
    uint8_t out[16];
    elves_error err = {0, ""};

    assert_int_equal(elves_decode_range(out, c->blocks, c->nblocks, 5, 4,
                                        th_fetch_fn, &f, NULL, 1, &err),
                     ELVES_E_RANGE);
    assert_int_equal(elves_decode_range(out, c->blocks, c->nblocks, fx->len,
                                        fx->len, th_fetch_fn, &f, NULL, 1, &err),
                     ELVES_E_RANGE);
    assert_int_equal(elves_decode_range(out, c->blocks, c->nblocks, fx->len - 2,
                                        fx->len, th_fetch_fn, &f, NULL, 1, &err),
                     ELVES_E_RANGE);
    assert_int_equal(elves_decode_range(out, c->blocks, c->nblocks, 0,
                                        UINT64_MAX, th_fetch_fn, &f, NULL, 1, &err),
                     ELVES_E_RANGE);
    assert_int_equal(
        elves_decode_range(out, c->blocks, 0, 0, 0, th_fetch_fn, &f, NULL, 1, &err),
        ELVES_E_RANGE);
    assert_int_equal(elves_decode_range(NULL, c->blocks, c->nblocks, 0, 0,
                                        th_fetch_fn, &f, NULL, 1, &err),
                     ELVES_E_INVALID);
    assert_int_equal(
        elves_decode_range(out, c->blocks, c->nblocks, 0, 0, NULL, &f, NULL, 1, &err),
        ELVES_E_INVALID);
    assert_int_equal(f.calls, 0);
}

static int failing_fetch(void *ctx, const elves_block_ref *ref, uint8_t *buf)
{
    return -1;
}

static void test_fetch_failure_and_bad_map(void **state)
{
    fixture *fx = *state;
    const elves_container *c = fx->c;
    uint8_t out[64];
    elves_error err = {0, ""};
    th_fetch f = {fx->box.p, fx->box.len, 0, NULL, 0};

    assert_int_equal(elves_decode_range(out, c->blocks, c->nblocks, 0, 63,
                                        failing_fetch, NULL, NULL, 1, &err),
                     ELVES_E_CALLBACK);
    /* A map entry whose sizes disagree with the block it points at. */
    elves_block_ref *m = malloc(c->nblocks * sizeof *m);
    memcpy(m, c->blocks, c->nblocks * sizeof *m);
    m[1].loc = m[2].loc;
    m[1].enc_len = m[2].enc_len;
    int rc = elves_decode_range(out, m, c->nblocks, m[1].raw_offset,
                                m[1].raw_offset, th_fetch_fn, &f, NULL, 1, &err);
    /* With equal sizes it would decode block 2's bytes (the caller's map is
     * trusted for where blocks are); with different sizes it must fail. */
    assert_int_equal(c->blocks[1].raw_len, c->blocks[2].raw_len);
    (void)rc;
    m[1].raw_len -= 1;
    m[2].raw_offset -= 1;
    assert_int_equal(elves_decode_range(out, m, c->nblocks, m[1].raw_offset,
                                        m[1].raw_offset, th_fetch_fn, &f, NULL, 1,
                                        &err),
                     ELVES_E_CORRUPT);
    memcpy(m, c->blocks, c->nblocks * sizeof *m);
    m[0].enc_len = 3; /* smaller than a block header */
    assert_int_equal(
        elves_decode_range(out, m, c->nblocks, 0, 0, th_fetch_fn, &f, NULL, 1, &err),
        ELVES_E_CORRUPT);
    memcpy(m, c->blocks, c->nblocks * sizeof *m);
    m[0].raw_len = ELVES_MAX_BLOCK_SIZE + 1;
    assert_int_equal(
        elves_decode_range(out, m, c->nblocks, 0, 0, th_fetch_fn, &f, NULL, 1, &err),
        ELVES_E_CORRUPT);
    free(m);
}

/* Maps whose blocks reach past the memory given are refused before any
 * byte past it is read (ASan would see such a read); a mislaid block is
 * caught by its header check. */
static void test_mem_bad_map(void **state)
{
    fixture *fx = *state;
    const elves_container *c = fx->c;
    const elves_block_ref *last = &c->blocks[c->nblocks - 1];
    uint64_t end = last->loc + last->enc_len;
    uint8_t out[64];
    elves_error err = {0, ""};
    elves_block_ref *m = malloc(c->nblocks * sizeof *m);

    /* The memory ends one byte before the last block does. */
    assert_int_equal(elves_decode_range_mem(out, c->blocks, c->nblocks,
                                            last->raw_offset, last->raw_offset,
                                            fx->box.p, end - 1, NULL, 1, &err),
                     ELVES_E_CORRUPT);
    assert_non_null(strstr(err.msg, "past the end"));
    /* A block placed past the end, and one whose end wraps around. */
    memcpy(m, c->blocks, c->nblocks * sizeof *m);
    m[0].loc = fx->box.len;
    assert_int_equal(elves_decode_range_mem(out, m, c->nblocks, 0, 0, fx->box.p,
                                            fx->box.len, NULL, 2, &err),
                     ELVES_E_CORRUPT);
    m[0].loc = UINT64_MAX - 2;
    assert_int_equal(elves_decode_range_mem(out, m, c->nblocks, 0, 0, fx->box.p,
                                            fx->box.len, NULL, 1, &err),
                     ELVES_E_CORRUPT);
    /* A block pointing at the next block's bytes. */
    memcpy(m, c->blocks, c->nblocks * sizeof *m);
    m[0].loc = m[1].loc;
    if (m[0].raw_len != m[1].raw_len || m[0].enc_len != m[1].enc_len)
        assert_int_equal(elves_decode_range_mem(out, m, c->nblocks, 0, 0,
                                                fx->box.p, fx->box.len, NULL, 1,
                                                &err),
                         ELVES_E_CORRUPT);
    assert_int_equal(elves_decode_range_mem(out, c->blocks, c->nblocks, 0, 0,
                                            NULL, 0, NULL, 1, &err),
                     ELVES_E_INVALID);
    assert_int_equal(elves_decode_range_mem(NULL, c->blocks, c->nblocks, 0, 0,
                                            fx->box.p, fx->box.len, NULL, 1, &err),
                     ELVES_E_INVALID);
    /* The whole file, on 1 and 4 threads, with the exact memory. */
    check_range_mem(fx, 0, fx->len - 1, 1);
    check_range_mem(fx, 0, fx->len - 1, 4);
    free(m);
}

static void test_random_ranges(void **state)
{
    fixture *fx = *state;
    uint64_t s = 12345;

    for (int i = 0; i < 3000; i++) {
        uint64_t a = th_rand(&s) % fx->len;
        uint64_t span = th_rand(&s) % (i % 3 == 0 ? fx->len : 9000);
        uint64_t z = a + span < fx->len ? a + span : fx->len - 1;
        check_range(fx, a, z, 1 + (unsigned)(i % 4));
    }
}

/* ------------------------------------------------------------------------ */
/* Real checkpoints                                                         */
/* ------------------------------------------------------------------------ */

static int decode_in_sink(void *ctx, size_t index, uint64_t raw_offset,
                          uint32_t raw_len, const uint8_t *block,
                          size_t block_len)
{
    const fixture *fx = ctx;
    (void)raw_offset, (void)raw_len, (void)block, (void)block_len;
    check_range(fx, 0, fx->len - 1, 1 + (unsigned)index);
    return 0;
}

static void test_real_file_ranges_threads(void **state)
{
    fixture fx = {0};
    uint64_t s = 99;
    char path[1024];

    snprintf(path, sizeof path, "%s/human-movenet-lightning.safetensors",
             ELVES_SHARED_DATA);
    fx.file = test_read_file(path, &fx.len);
    assert_non_null(fx.file);
    assert_int_equal(th_compress(&fx.box, NULL, fx.file, fx.len,
                                 ELVES_MODE_LOSSLESS, 2, 65536),
                     ELVES_OK);
    assert_int_equal(th_open(&fx.c, &fx.box), ELVES_OK);
    for (unsigned t = 1; t <= 4; t *= 2)
        check_range(&fx, 0, fx.len - 1, t);
    for (int i = 0; i < 300; i++) {
        uint64_t a = th_rand(&s) % fx.len;
        uint64_t z = a + th_rand(&s) % 300000;
        check_range(&fx, a, z < fx.len ? z : fx.len - 1, 1 + (unsigned)i % 4);
    }
    /* Decoding from inside an encode sink: the thread's segment scratch is
     * busy with the encode, so the decode must use buffers of its own. */
    elves_segment seg = {.kind = ELVES_SEG_OPAQUE, .length = 3000};
    elves_encode_opts o = ELVES_ENCODE_OPTS_INIT;
    o.block_size = 1000;
    assert_int_equal(elves_encode_segment(NULL, fx.file, 3000, &seg, &o,
                                          decode_in_sink, &fx, NULL),
                     ELVES_OK);
    elves_container_free(fx.c);
    free(fx.box.p);
    free(fx.file);
}

/* ------------------------------------------------------------------------ */
/* elves_encode_segment and elves_decode_blocks                             */
/* ------------------------------------------------------------------------ */

typedef struct collected {
    size_t n;
    uint8_t *blk[256];
    size_t len[256];
    uint32_t raw_len[256];
    size_t fail_at; /* return non-zero at this call (0: never) */
    int after_failure;
} collected;

static int collect(void *ctx, size_t index, uint64_t raw_offset,
                   uint32_t raw_len, const uint8_t *block, size_t block_len)
{
    collected *cl = ctx;

    if (cl->fail_at && cl->n + 1 > cl->fail_at)
        cl->after_failure = 1;
    assert_int_equal(index, cl->n); /* in order */
    assert_int_equal(raw_offset, (uint64_t)index * 1000);
    assert_true(cl->n < 256);
    cl->blk[cl->n] = malloc(block_len);
    memcpy(cl->blk[cl->n], block, block_len);
    cl->len[cl->n] = block_len;
    cl->raw_len[cl->n] = raw_len;
    cl->n++;
    return cl->fail_at && cl->n == cl->fail_at;
}

static void free_collected(collected *cl)
{
    for (size_t i = 0; i < cl->n; i++)
        free(cl->blk[i]);
}

static void encode_weights(collected *cl, const float *w, size_t n,
                           unsigned threads, elves_codec *codec)
{
    elves_segment seg = {.kind = ELVES_SEG_TENSOR,
                         .dtype = ELVES_DT_F32,
                         .ndim = 1,
                         .shape = {n},
                         .length = n * 4};
    elves_encode_opts o = ELVES_ENCODE_OPTS_INIT;
    elves_error err = {0, ""};

    o.threads = threads;
    o.block_size = 1000;
    int rc = elves_encode_segment(codec, (const uint8_t *)w, n * 4, &seg, &o,
                                  collect, cl, &err);
    if (rc)
        fail_msg("encode: %s", err.msg);
}

static void test_encode_segment_order_and_threads(void **state)
{
    enum { N = 25111 }; /* 100444 bytes: 101 blocks, the last 444 bytes */
    float *w = malloc(N * 4);
    collected one = {0}, four = {0};
    elves_codec c1, c4;

    th_weights(w, N, 5);
    encode_weights(&one, w, N, 1, &c1);
    encode_weights(&four, w, N, 4, &c4);
    assert_int_equal(c1, c4);
    assert_int_equal(one.n, 101);
    assert_int_equal(four.n, 101);
    assert_int_equal(one.raw_len[100], 444);
    for (size_t i = 0; i < one.n; i++) {
        assert_int_equal(one.len[i], four.len[i]);
        assert_memory_equal(one.blk[i], four.blk[i], one.len[i]);
    }

    /* Decode all blocks at once, on 1, 2 and 3 threads. */
    elves_decode_job jobs[101];
    uint8_t *out = malloc(N * 4);
    for (unsigned t = 1; t <= 3; t++) {
        memset(out, 0, N * 4);
        for (size_t i = 0; i < one.n; i++)
            jobs[i] = (elves_decode_job){one.blk[i], one.len[i], out + i * 1000,
                                         one.raw_len[i], NULL};
        assert_int_equal(elves_decode_blocks(jobs, one.n, t, NULL), ELVES_OK);
        assert_memory_equal(out, w, N * 4);
    }
    /* A damaged block fails the batch with CORRUPT; so does a small dst. */
    one.blk[7][one.len[7] - 1] ^= 1;
    assert_int_equal(elves_decode_blocks(jobs, one.n, 3, NULL),
                     ELVES_E_CORRUPT);
    one.blk[7][one.len[7] - 1] ^= 1;
    jobs[9].dst_cap = 10;
    assert_int_not_equal(elves_decode_blocks(jobs, one.n, 2, NULL), ELVES_OK);
    assert_int_equal(elves_decode_blocks(jobs, 0, 2, NULL), ELVES_OK);
    assert_int_equal(elves_decode_blocks(NULL, 1, 2, NULL), ELVES_E_INVALID);
    free(out);
    free_collected(&one);
    free_collected(&four);
    free(w);
}

static void test_encode_segment_sink_failure_and_args(void **state)
{
    enum { N = 5000 };
    float *w = malloc(N * 4);
    elves_codec codec;

    th_weights(w, N, 6);
    for (unsigned t = 1; t <= 4; t += 3) {
        collected cl = {0};
        elves_segment seg = {.kind = ELVES_SEG_TENSOR,
                             .dtype = ELVES_DT_F32,
                             .ndim = 1,
                             .shape = {N},
                             .length = N * 4};
        elves_encode_opts o = ELVES_ENCODE_OPTS_INIT;
        o.threads = t;
        o.block_size = 1000;
        cl.fail_at = 3;
        assert_int_equal(elves_encode_segment(&codec, (const uint8_t *)w, N * 4,
                                              &seg, &o, collect, &cl, NULL),
                         ELVES_E_CALLBACK);
        assert_int_equal(cl.n, 3);
        assert_false(cl.after_failure);
        free_collected(&cl);

        collected none = {0};
        assert_int_equal(elves_encode_segment(&codec, NULL, 0, &seg, &o,
                                              collect, &none, NULL),
                         ELVES_OK);
        assert_int_equal(none.n, 0);
        o.block_size = ELVES_MAX_BLOCK_SIZE + 1;
        assert_int_equal(elves_encode_segment(&codec, (const uint8_t *)w, 4,
                                              &seg, &o, collect, &none, NULL),
                         ELVES_E_INVALID);
        assert_int_equal(elves_encode_segment(&codec, (const uint8_t *)w, 4,
                                              &seg, NULL, NULL, &none, NULL),
                         ELVES_E_INVALID);
    }
    free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cover_handmade_maps),
        cmocka_unit_test_setup_teardown(test_first_and_last_byte, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_block_edges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_across_segments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_failure_and_bad_map, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_mem_bad_map, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_ranges, setup, teardown),
        cmocka_unit_test(test_real_file_ranges_threads),
        cmocka_unit_test(test_encode_segment_order_and_threads),
        cmocka_unit_test(test_encode_segment_sink_failure_and_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
