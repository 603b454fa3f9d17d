/*
 * test_units.c - coding units (elves_plan_units): which small tensors are
 * grouped, that containers with units decode every byte range exactly,
 * and that the index rules for unit members refuse what they must.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_d_format: the index frame */
#include <zstd.h>

#include <cmocka.h>

#include "container_helpers.h"
#include "elves.h"

#define FOOTER 32

/* The test checkpoint: segment 0 is the header, then
 *   1..4  four small F32 tensors          -> one unit
 *   5     a small I32 tensor              -> breaks the run: alone
 *   6,7   two small F32 tensors           -> one unit
 *   8     a 12 KiB F32 tensor (too big)   -> alone
 *   9,10  the same small F32 tensor twice -> alone each (dedup)
 *   11    a small BF16 tensor             -> alone (one member only) */
enum { NSEG = 12 };

typedef struct fixture {
    float small[6][256];
    int32_t ids[64];
    float big[3072];
    float twin[256];
    uint16_t bf[100];
    uint8_t *file;
    size_t len;
} fixture;

static fixture *make_fixture(void)
{
    fixture *x = calloc(1, sizeof *x);
    for (int k = 0; k < 6; k++)
        th_weights(x->small[k], 256,
                   2 * (uint64_t)k + 11); /* odd: seeds are | 1 */
    for (int i = 0; i < 64; i++)
        x->ids[i] = i * 7;
    th_weights(x->big, 3072, 3);
    th_weights(x->twin, 256, 4);
    for (int i = 0; i < 100; i++)
        x->bf[i] = (uint16_t)(0x3c00 + i);
    th_tensor t[NSEG - 1] = {
        {"s0", "F32", 1, {256}, (uint8_t *)x->small[0], 1024},
        {"s1", "F32", 2, {16, 16}, (uint8_t *)x->small[1], 1024},
        {"s2", "F32", 1, {256}, (uint8_t *)x->small[2], 1024},
        {"s3", "F32", 1, {256}, (uint8_t *)x->small[3], 1024},
        {"ids", "I32", 1, {64}, (uint8_t *)x->ids, sizeof x->ids},
        {"s4", "F32", 1, {256}, (uint8_t *)x->small[4], 1024},
        {"s5", "F32", 1, {256}, (uint8_t *)x->small[5], 1024},
        {"big", "F32", 1, {3072}, (uint8_t *)x->big, sizeof x->big},
        {"twin_a", "F32", 1, {256}, (uint8_t *)x->twin, 1024},
        {"twin_b", "F32", 1, {256}, (uint8_t *)x->twin, 1024},
        {"bf", "BF16", 1, {100}, (uint8_t *)x->bf, sizeof x->bf},
    };
    x->file = th_safetensors(t, NSEG - 1, &x->len);
    return x;
}

static void free_fixture(fixture *x)
{
    free(x->file);
    free(x);
}

static void test_plan(void **state)
{
    (void)state;
    fixture *x = make_fixture();
    elves_segments *segs = NULL;
    elves_unit *u = NULL;
    size_t n = 0;
    elves_error err = {0, ""};

    assert_int_equal(elves_segment_file(&segs, x->file, x->len, NULL),
                     ELVES_OK);
    assert_int_equal(segs->count, NSEG);
    assert_int_equal(elves_plan_units(&u, &n, segs, x->file, &err), ELVES_OK);
    static const size_t first[] = {0, 1, 5, 6, 8, 9, 10, 11};
    static const size_t count[] = {1, 4, 1, 2, 1, 1, 1, 1};
    assert_int_equal(n, sizeof first / sizeof first[0]);
    for (size_t k = 0; k < n; k++) {
        assert_int_equal(u[k].first, first[k]);
        assert_int_equal(u[k].count, count[k]);
    }
    /* A run is coded as one F32 tensor of all its elements. */
    assert_int_equal(u[1].seg.kind, ELVES_SEG_TENSOR);
    assert_int_equal(u[1].seg.dtype, ELVES_DT_F32);
    assert_int_equal(u[1].seg.ndim, 1);
    assert_int_equal(u[1].seg.shape[0], 1024);
    assert_int_equal(u[1].seg.offset, segs->items[1].offset);
    assert_int_equal(u[1].seg.length, 4096);
    assert_null(u[1].seg.name);
    /* A unit of one is the segment itself. */
    assert_int_equal(u[4].seg.length, sizeof x->big);
    assert_string_equal(u[4].seg.name, "big");
    elves_units_free(u);

    /* The run stops at 256 KiB: 40 tensors of 8 KiB make units of 32 + 8. */
    enum { M = 40 };
    th_tensor many[M];
    char names[M][8];
    for (int i = 0; i < M; i++) {
        snprintf(names[i], sizeof names[i], "t%d", i);
        many[i] = (th_tensor){names[i], "U8", 1, {8192}, NULL, 8192};
    }
    uint8_t *data = malloc(M * 8192);
    for (int i = 0; i < M; i++) {
        memset(data + (size_t)i * 8192, i, 8192);
        many[i].data = data + (size_t)i * 8192;
    }
    size_t flen;
    uint8_t *f = th_safetensors(many, M, &flen);
    elves_segments *s2 = NULL;
    assert_int_equal(elves_segment_file(&s2, f, flen, NULL), ELVES_OK);
    assert_int_equal(elves_plan_units(&u, &n, s2, f, &err), ELVES_OK);
    assert_int_equal(n, 3);
    assert_int_equal(u[1].count, 32);
    assert_int_equal(u[1].seg.length, (uint64_t)256 << 10);
    assert_int_equal(u[2].count, 8);
    elves_units_free(u);
    elves_segments_free(s2);
    free(f);
    free(data);

    assert_int_equal(elves_plan_units(NULL, &n, segs, x->file, NULL),
                     ELVES_E_INVALID);
    elves_segments_free(segs);
    free_fixture(x);
}

/* Every range that starts or ends at a segment boundary (and one byte on
 * either side) decodes to exactly the original bytes. */
static void check_ranges(const elves_container *c, const th_buf *b,
                         const uint8_t *want)
{
    uint64_t cuts[3 * NSEG + 2];
    size_t nc = 0;
    for (size_t i = 0; i < c->nsegments; i++) {
        uint64_t o = c->segments[i].seg.offset;
        cuts[nc++] = o;
        if (o)
            cuts[nc++] = o - 1;
        if (o + 1 < c->file_size)
            cuts[nc++] = o + 1;
    }
    cuts[nc++] = c->file_size - 1;
    uint8_t *out = malloc(c->file_size);
    for (size_t i = 0; i < nc; i++)
        for (size_t j = 0; j < nc; j++) {
            if (cuts[i] > cuts[j])
                continue;
            th_fetch f = {b->p, b->len, 0, NULL, 0};
            elves_error err = {0, ""};
            assert_int_equal(elves_decode_range(out, c->blocks, c->nblocks,
                                                cuts[i], cuts[j], th_fetch_fn,
                                                &f, NULL, 1, &err),
                             ELVES_OK);
            assert_memory_equal(out, want + cuts[i], cuts[j] - cuts[i] + 1);
        }
    free(out);
}

static void test_container_units(void **state)
{
    (void)state;
    fixture *x = make_fixture();
    th_buf b;
    elves_container *c = NULL;

    assert_int_equal(
        th_compress(&b, NULL, x->file, x->len, ELVES_MODE_LOSSLESS, 2, 0),
        ELVES_OK);
    assert_int_equal(th_open(&c, &b), ELVES_OK);
    assert_int_equal(c->nsegments, NSEG);
    static const int group_of[NSEG] = {-1, -1, 1,  1,  1,  -1,
                                       -1, 6,  -1, -1, -1, -1};
    for (size_t i = 0; i < NSEG; i++)
        assert_int_equal(c->segments[i].group_of, group_of[i]);
    /* Members share their unit's blocks and attribute no bytes. */
    for (size_t i = 2; i <= 4; i++) {
        assert_int_equal(c->segments[i].first_block,
                         c->segments[1].first_block);
        assert_int_equal(c->segments[i].stored_bytes, 0);
        assert_int_equal(c->segments[i].codec, c->segments[1].codec);
    }
    assert_int_equal(c->segments[1].codec, ELVES_CODEC_FLOAT);
    assert_int_equal(c->segments[10].dedup_of, 9);
    /* One block for the four members: header, unit, ids, unit, big, twin,
     * bf16 (the twin's copy repeats its block in the map). */
    assert_int_equal(c->nblocks, 8);
    uint8_t want[32];
    assert_int_equal(elves_sha256(want, x->file, x->len), ELVES_OK);
    assert_memory_equal(want, c->sha256, 32);
    check_ranges(c, &b, x->file);
    elves_container_free(c);
    free(b.p);

    /* ELF mode: the F32 unit may be lossy; every value stays in bound. */
    assert_int_equal(th_compress(&b, &c, x->file, x->len, ELVES_MODE_ELF, 1, 0),
                     ELVES_OK);
    uint8_t *out = malloc(x->len);
    th_fetch f = {b.p, b.len, 0, NULL, 0};
    assert_int_equal(elves_decode_range(out, c->blocks, c->nblocks, 0,
                                        x->len - 1, th_fetch_fn, &f, NULL, 1, NULL),
                     ELVES_OK);
    for (size_t i = 1; i <= 4; i++) {
        const elves_segment *s = &c->segments[i].seg;
        for (uint64_t k = 0; k < s->length / 4; k++) {
            float a, w;
            memcpy(&a, out + s->offset + 4 * k, 4);
            memcpy(&w, x->file + s->offset + 4 * k, 4);
            assert_true(fabsf(a - w) <= 0x1p-24f);
        }
    }
    uint8_t got[32];
    assert_int_equal(elves_sha256(got, out, x->len), ELVES_OK);
    assert_memory_equal(got, c->sha256, 32);
    free(out);
    elves_container_free(c);
    free(b.p);
    free_fixture(x);
}

/* ---- hand-edited indexes ------------------------------------------------ */

/* The container's index body (the version 1 bytes from offset 16 up to the
 * hash), decoded from its version 2 frame. */
static uint8_t *index_body(const th_buf *b, size_t *body_len, uint64_t *off)
{
    const uint8_t *foot = b->p + b->len - FOOTER;
    uint64_t idx_off, idx_len;
    memcpy(&idx_off, foot, 8);
    memcpy(&idx_len, foot + 8, 8);
    const uint8_t *idx = b->p + idx_off;
    uint64_t n;
    memcpy(&n, idx + 16, 8);
    uint8_t *body = malloc(n);
    ZSTD_DCtx *d = ZSTD_createDCtx();
    assert_false(ZSTD_isError(
        ZSTD_DCtx_setParameter(d, ZSTD_d_format, ZSTD_f_zstd1_magicless)));
    size_t got =
        ZSTD_decompressDCtx(d, body, n, idx + 24, (size_t)idx_len - 24 - 8);
    ZSTD_freeDCtx(d);
    assert_int_equal(got, n);
    *body_len = (size_t)n;
    *off = idx_off;
    return body;
}

/* A copy of the container whose index is the given body, written as a
 * version 1 (plain) index, which readers still accept. */
static th_buf with_plain_index(const th_buf *b, const uint8_t *body,
                               size_t body_len, uint64_t idx_off)
{
    th_buf o = {0};
    uint8_t head[16] = "ELVESIDX", foot[FOOTER] = {0};
    uint32_t one = 1;
    memcpy(head + 8, &one, 4);
    assert_int_equal(th_write(&o, b->p, (size_t)idx_off), 0);
    assert_int_equal(th_write(&o, head, 16), 0);
    assert_int_equal(th_write(&o, body, body_len), 0);
    uint64_t h = XXH3_64bits(o.p + idx_off, 16 + body_len);
    assert_int_equal(th_write(&o, (uint8_t *)&h, 8), 0);
    uint64_t len = 16 + body_len + 8;
    memcpy(foot, &idx_off, 8);
    memcpy(foot + 8, &len, 8);
    memcpy(foot + 24, "ELVESEND", 8);
    assert_int_equal(th_write(&o, foot, FOOTER), 0);
    return o;
}

/* Segment record i within the body (the plain header is 88 bytes, of which
 * the body holds all but the first 16). */
static uint8_t *seg_rec(uint8_t *body, size_t i)
{
    return body + (88 - 16) + i * 120;
}

static int open_edited(const th_buf *b, const uint8_t *body0, size_t body_len,
                       uint64_t idx_off, void (*edit)(uint8_t *body))
{
    uint8_t *body = malloc(body_len);
    memcpy(body, body0, body_len);
    if (edit)
        edit(body);
    th_buf o = with_plain_index(b, body, body_len, idx_off);
    elves_container *c = NULL;
    int rc = th_open(&c, &o);
    elves_container_free(c);
    free(o.p);
    free(body);
    return rc;
}

static void set32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}
static void set64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}
static uint64_t get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* The header segment marked as a member: it has no unit to join. */
static void edit_first_member(uint8_t *body)
{
    uint8_t *r = seg_rec(body, 0);
    set32(r + 108, 2u);
}
/* A member that claims blocks of its own. */
static void edit_member_blocks(uint8_t *body)
{
    set64(seg_rec(body, 2) + 96, 1);
}
/* A member that is also deduplicated. */
static void edit_member_dedup(uint8_t *body)
{
    set32(seg_rec(body, 3) + 104, 1);
}
/* A member whose codec differs from its unit's. */
static void edit_member_codec(uint8_t *body)
{
    seg_rec(body, 4)[2] = ELVES_CODEC_ZSTD;
}
/* A member flag dropped: the unit's first no longer covers its blocks. */
static void edit_member_dropped(uint8_t *body)
{
    uint8_t *r = seg_rec(body, 7);
    set32(r + 108, 1u); /* it keeps its name */
}
/* The twin's copy pointed at the F32 unit's first segment instead, with
 * that segment's blocks and codec: the fields agree, but the unit's block
 * holds four tensors, not one. */
static void edit_dedup_of_unit(uint8_t *body)
{
    uint8_t *t = seg_rec(body, 10), *u = seg_rec(body, 1);
    t[2] = u[2];
    set64(t + 88, get64(u + 88));
    set64(t + 96, get64(u + 96));
    set32(t + 104, 1);
}

static void test_index_rules(void **state)
{
    (void)state;
    fixture *x = make_fixture();
    th_buf b;
    size_t body_len;
    uint64_t idx_off;

    assert_int_equal(
        th_compress(&b, NULL, x->file, x->len, ELVES_MODE_LOSSLESS, 1, 0),
        ELVES_OK);
    uint8_t *body = index_body(&b, &body_len, &idx_off);
    /* Segment 1's shape is [256] like the twin's: the dedup edit is only
     * refused for being a unit. */
    assert_int_equal(get64(seg_rec(body, 1) + 24), 256);
    assert_int_equal(get64(seg_rec(body, 10) + 24), 256);

    assert_int_equal(open_edited(&b, body, body_len, idx_off, NULL), ELVES_OK);
    void (*const bad[])(uint8_t *) = {
        edit_first_member, edit_member_blocks,  edit_member_dedup,
        edit_member_codec, edit_member_dropped, edit_dedup_of_unit,
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        assert_int_equal(open_edited(&b, body, body_len, idx_off, bad[k]),
                         ELVES_E_CORRUPT);
    free(body);
    free(b.p);
    free_fixture(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan),
        cmocka_unit_test(test_container_units),
        cmocka_unit_test(test_index_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
