/*
 * test_gguf.c - the GGUF parser, on files written by a tiny in-test GGUF
 * writer (v2 and v3, kv pairs of every type, F32/F16/Q4_0 and other
 * tensors, default and custom alignment) and on hostile variants: wrong
 * versions, huge counts, too many dims, misaligned or overlapping tensors,
 * bad alignment, and the same file truncated at every length.
 */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "elves.h"

/* ---- a tiny GGUF writer ---------------------------------------------------
 */

typedef struct gbuf {
    uint8_t *p;
    size_t len, cap;
} gbuf;

static void put(gbuf *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
}
static void put_u8(gbuf *b, uint8_t v)
{
    put(b, &v, 1);
}
static void put_u32(gbuf *b, uint32_t v)
{
    put(b, &v, 4);
}
static void put_u64(gbuf *b, uint64_t v)
{
    put(b, &v, 8);
}
static void put_str(gbuf *b, const char *s)
{
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void put_zeros(gbuf *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put_u8(b, 0);
}
static void pad_to(gbuf *b, uint64_t align)
{
    put_zeros(b, (size_t)((align - b->len % align) % align));
}

enum {
    GT_F32 = 0,
    GT_F16 = 1,
    GT_Q4_0 = 2,
    GT_I8 = 24,
    GT_I16 = 25,
    GT_I32 = 26,
    GT_I64 = 27,
    GT_F64 = 28,
    GT_BF16 = 30
};

typedef struct gtensor {
    const char *name;
    uint32_t ndim;
    uint64_t ne[10]; /* innermost first, as GGUF stores them */
    uint32_t type;
    uint64_t nbytes; /* data bytes written */
    uint64_t offset; /* -1 (UINT64_MAX): next aligned offset */
} gtensor;

/* Zero fields mean the default. */
typedef struct gopts {
    uint32_t version;    /* 0: 3 */
    uint32_t alignment;  /* 0: no general.alignment kv (default 32) */
    uint32_t align_type; /* kv type of general.alignment; 0: 4 = u32 */
    int every_kv;        /* add kv pairs of every type */
    int pad_last;        /* pad after the last tensor's data */
} gopts;

#define GOPTS(...) ((gopts){__VA_ARGS__})

/* One kv of every type 0..12, arrays of scalars, of strings and nested. */
static uint64_t put_every_kv(gbuf *b)
{
    put_str(b, "t.u8"), put_u32(b, 0), put_u8(b, 7);
    put_str(b, "t.i8"), put_u32(b, 1), put_u8(b, 0xff);
    put_str(b, "t.u16"), put_u32(b, 2), put_u8(b, 1), put_u8(b, 2);
    put_str(b, "t.i16"), put_u32(b, 3), put_u8(b, 3), put_u8(b, 4);
    put_str(b, "t.u32"), put_u32(b, 4), put_u32(b, 5);
    put_str(b, "t.i32"), put_u32(b, 5), put_u32(b, (uint32_t)-6);
    put_str(b, "t.f32"), put_u32(b, 6), put_u32(b, 0x3f800000);
    put_str(b, "t.bool"), put_u32(b, 7), put_u8(b, 1);
    put_str(b, "general.name"), put_u32(b, 8), put_str(b, "tiny");
    put_str(b, "t.u64"), put_u32(b, 10), put_u64(b, 1ull << 40);
    put_str(b, "t.i64"), put_u32(b, 11), put_u64(b, (uint64_t)-1);
    put_str(b, "t.f64"), put_u32(b, 12), put_u64(b, 0x3ff0000000000000ull);
    put_str(b, "t.arr_u32"), put_u32(b, 9), put_u32(b, 4), put_u64(b, 3);
    for (uint32_t i = 0; i < 3; i++)
        put_u32(b, i);
    put_str(b, "tokenizer.ggml.tokens"), put_u32(b, 9), put_u32(b, 8);
    put_u64(b, 3), put_str(b, "<s>"), put_str(b, ""), put_str(b, "hello");
    put_str(b, "t.nested"), put_u32(b, 9), put_u32(b, 9), put_u64(b, 2);
    put_u32(b, 12), put_u64(b, 1), put_u64(b, 0); /* [f64 x 1] */
    put_u32(b, 8), put_u64(b, 2), put_str(b, "a"), put_str(b, "bc");
    put_str(b, "t.empty"), put_u32(b, 9), put_u32(b, 7), put_u64(b, 0);
    return 16;
}

/* A GGUF file; offsets of tensors with offset -1 follow each other, each
 * aligned.  Data bytes are a pattern. */
static uint8_t *gguf_file(size_t *len, gopts o, const gtensor *ts, size_t n)
{
    uint64_t align = o.alignment ? o.alignment : 32;
    uint32_t align_type = o.align_type ? o.align_type : 4;
    gbuf b = {0};
    put(&b, "GGUF", 4);
    put_u32(&b, o.version ? o.version : 3);
    put_u64(&b, n);
    size_t kv_count_at = b.len;
    put_u64(&b, 0);
    uint64_t kvs = o.every_kv ? put_every_kv(&b) : 0;
    if (o.alignment) {
        put_str(&b, "general.alignment"), put_u32(&b, align_type);
        if (align_type == 4)
            put_u32(&b, o.alignment);
        else
            put_u64(&b, o.alignment);
        kvs++;
    }
    memcpy(b.p + kv_count_at, &kvs, 8);
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        put_str(&b, ts[i].name);
        put_u32(&b, ts[i].ndim);
        for (uint32_t d = 0; d < ts[i].ndim; d++)
            put_u64(&b, ts[i].ne[d]);
        put_u32(&b, ts[i].type);
        put_u64(&b, ts[i].offset != UINT64_MAX ? ts[i].offset : off);
        off += (ts[i].nbytes + align - 1) / align * align;
    }
    pad_to(&b, align);
    for (size_t i = 0; i < n; i++) {
        for (uint64_t k = 0; k < ts[i].nbytes; k++)
            put_u8(&b, (uint8_t)(k * 13 + i));
        if (i + 1 < n || o.pad_last)
            pad_to(&b, align);
    }
    *len = b.len;
    return b.p;
}

static elves_segments *parse_ok(const uint8_t *f, size_t len)
{
    elves_segments *s = NULL;
    elves_error err = {0};
    int rc = elves_parse_gguf(&s, f, len, &err);
    if (rc != ELVES_OK)
        fail_msg("parse failed: %s", err.msg);
    assert_int_equal(elves_segments_check(s, len, &err), ELVES_OK);
    assert_int_equal(s->format, ELVES_FMT_GGUF);
    assert_int_equal(s->items[0].kind, ELVES_SEG_HEADER);
    assert_null(s->metadata_json);
    return s;
}

static void expect_error(const uint8_t *f, size_t len, int code,
                         const char *needle)
{
    elves_segments *s = (elves_segments *)1;
    elves_error err = {0};
    int rc = elves_parse_gguf(&s, f, len, &err);
    if (rc != code)
        fail_msg("expected %d, got %d (%s)", code, rc, err.msg);
    assert_null(s);
    if (!strstr(err.msg, needle))
        fail_msg("message '%s' lacks '%s'", err.msg, needle);
}

static void expect_bad(gopts o, const gtensor *ts, size_t n, const char *needle)
{
    size_t len;
    uint8_t *f = gguf_file(&len, o, ts, n);
    expect_error(f, len, ELVES_E_FORMAT, needle);
    free(f);
}

/* F32 [3 x 4], F16 [8], Q4_0 [64] (two 18-byte blocks). */
static const gtensor three[] = {
    {"blk.0.attn_q.weight", 2, {4, 3}, GT_F32, 48, -1},
    {"blk.0.attn_norm.weight", 1, {8}, GT_F16, 16, -1},
    {"blk.0.ffn_up.weight", 1, {64}, GT_Q4_0, 36, -1},
};

/* ---- well-formed files --------------------------------------------------- */

static void check_three(uint32_t version, uint32_t alignment)
{
    size_t len;
    uint64_t a = alignment ? alignment : 32;
    uint8_t *f = gguf_file(&len,
                           GOPTS(.version = version, .alignment = alignment,
                                 .every_kv = 1, .pad_last = 1),
                           three, 3);
    elves_segments *s = parse_ok(f, len);
    uint64_t data = s->items[0].length;
    assert_int_equal(data % a, 0);
    const elves_segment *t[3];
    size_t k = 0, pads = 0;
    for (size_t i = 1; i < s->count; i++) {
        if (s->items[i].kind == ELVES_SEG_TENSOR)
            t[k++] = &s->items[i];
        else
            assert_int_equal(s->items[i].kind, ELVES_SEG_PADDING), pads++;
        assert_true(k <= 3);
    }
    assert_int_equal(k, 3);
    assert_int_equal(pads, (48 % a != 0) + (16 % a != 0));
    assert_string_equal(t[0]->name, "blk.0.attn_q.weight");
    assert_int_equal(t[0]->dtype, ELVES_DT_F32);
    assert_int_equal(t[0]->ndim, 2);
    assert_int_equal(t[0]->shape[0], 3); /* outermost first */
    assert_int_equal(t[0]->shape[1], 4);
    assert_int_equal(t[0]->offset, data);
    assert_int_equal(t[0]->length, 48);
    assert_int_equal(t[1]->dtype, ELVES_DT_F16);
    assert_int_equal(t[1]->gguf_type, GT_F16);
    assert_int_equal(t[1]->offset, data + (48 + a - 1) / a * a);
    assert_int_equal(t[1]->length, 16);
    assert_int_equal(t[2]->dtype, ELVES_DT_OPAQUE);
    assert_int_equal(t[2]->gguf_type, GT_Q4_0);
    assert_int_equal(t[2]->shape[0], 64);
    assert_int_equal(t[2]->offset + t[2]->length, len); /* quantized: to EOF */
    assert_int_equal(t[2]->length, (36 + a - 1) / a * a);
    elves_segments_free(s);
    free(f);
}

static void test_v3_default_alignment(void **state)
{
    check_three(3, 0);
}

static void test_v2(void **state)
{
    check_three(2, 0);
}

static void test_custom_alignments(void **state)
{
    check_three(3, 64);
    check_three(3, 8);
    check_three(2, 1024);
}

/* Alignment 1: no padding segments at all. */
static void test_alignment_one(void **state)
{
    size_t len;
    uint8_t *f = gguf_file(&len, GOPTS(.alignment = 1), three, 3);
    elves_segments *s = parse_ok(f, len);
    assert_int_equal(s->count, 4);
    for (size_t i = 1; i < 4; i++)
        assert_int_equal(s->items[i].kind, ELVES_SEG_TENSOR);
    elves_segments_free(s);
    free(f);
}

static void test_every_plain_type(void **state)
{
    static const struct {
        uint32_t type;
        elves_dtype dt;
        uint64_t size;
    } m[] = {
        {GT_F32, ELVES_DT_F32, 4}, {GT_F16, ELVES_DT_F16, 2},
        {GT_I8, ELVES_DT_I8, 1},   {GT_I16, ELVES_DT_I16, 2},
        {GT_I32, ELVES_DT_I32, 4}, {GT_I64, ELVES_DT_I64, 8},
        {GT_F64, ELVES_DT_F64, 8}, {GT_BF16, ELVES_DT_BF16, 2},
    };
    gtensor ts[8];
    for (size_t i = 0; i < 8; i++)
        ts[i] = (gtensor){"t", 2, {5, 3}, m[i].type, 15 * m[i].size, -1};
    size_t len;
    uint8_t *f = gguf_file(&len, GOPTS(.pad_last = 0), ts, 8);
    elves_segments *s = parse_ok(f, len);
    size_t k = 0;
    for (size_t i = 1; i < s->count; i++) {
        if (s->items[i].kind != ELVES_SEG_TENSOR)
            continue;
        assert_int_equal(s->items[i].dtype, m[k].dt);
        assert_int_equal(s->items[i].length, 15 * m[k].size);
        k++;
    }
    assert_int_equal(k, 8);
    assert_int_equal(s->items[s->count - 1].kind, ELVES_SEG_TENSOR);
    elves_segments_free(s);
    free(f);
}

/* A quantized tensor between two others is sized by the next offset, its
 * alignment padding included. */
static void test_opaque_sized_by_next(void **state)
{
    gtensor ts[] = {
        {"a", 1, {64}, GT_Q4_0, 36, -1},
        {"b", 1, {4}, GT_F32, 16, -1},
    };
    size_t len;
    uint8_t *f = gguf_file(&len, GOPTS(.pad_last = 1), ts, 2);
    elves_segments *s = parse_ok(f, len);
    assert_int_equal(s->count, 4); /* H, a (36 + 28 pad), b, trailing pad */
    assert_int_equal(s->items[1].length, 64);
    assert_int_equal(s->items[2].offset, s->items[1].offset + 64);
    assert_int_equal(s->items[3].kind, ELVES_SEG_PADDING);
    assert_int_equal(s->items[3].length, 16);
    elves_segments_free(s);
    free(f);
}

/* Out-of-order offsets in the infos; zero-size and scalar tensors. */
static void test_unsorted_zero_size_scalar(void **state)
{
    gtensor ts[] = {
        {"late", 1, {8}, GT_F32, 0, 64},
        {"early", 1, {8}, GT_F32, 0, 0},
        {"empty", 2, {0, 4}, GT_F32, 0, 64},
        {"scalar", 0, {0}, GT_F32, 0, 32},
    };
    gbuf extra = {0};
    size_t len;
    uint8_t *f = gguf_file(&len, GOPTS(.alignment = 32), ts, 4);
    /* the writer wrote no data (nbytes 0): append what the offsets need */
    put(&extra, f, len);
    put_zeros(&extra, 96);
    free(f);
    elves_segments *s = parse_ok(extra.p, extra.len);
    const char *want[] = {"early", "scalar", "empty", "late"};
    size_t k = 0;
    for (size_t i = 0; i < s->count; i++)
        if (s->items[i].kind == ELVES_SEG_TENSOR)
            assert_string_equal(s->items[i].name, want[k++]);
    assert_int_equal(k, 4);
    elves_segments_free(s);
    free(extra.p);
}

/* Without tensors the header may stop unpadded (vocab-only files). */
static void test_no_tensors(void **state)
{
    gbuf b = {0};
    put(&b, "GGUF", 4), put_u32(&b, 3), put_u64(&b, 0), put_u64(&b, 1);
    put_str(&b, "general.name"), put_u32(&b, 8), put_str(&b, "x");
    size_t end = b.len; /* 57: the data section would start at 64 */
    assert_int_equal(end, 57);
    put_zeros(&b, 100 - end);
    elves_segments *s = parse_ok(b.p, end);
    assert_int_equal(s->count, 1);
    assert_int_equal(s->items[0].length, 57);
    elves_segments_free(s);
    s = parse_ok(b.p, 64);
    assert_int_equal(s->count, 1);
    elves_segments_free(s);
    s = parse_ok(b.p, 100);
    assert_int_equal(s->count, 2);
    assert_int_equal(s->items[0].length, 64);
    assert_int_equal(s->items[1].kind, ELVES_SEG_PADDING);
    elves_segments_free(s);
    free(b.p);
}

/* ---- hostile files --------------------------------------------------------
 */

/* Every prefix of a file whose last tensor ends at EOF must be refused. */
static void truncate_everywhere(uint32_t version)
{
    gtensor ts[] = {
        {"q", 1, {64}, GT_Q4_0, 36, -1},
        {"w", 2, {4, 2}, GT_F32, 32, -1},
    };
    size_t len;
    uint8_t *f = gguf_file(
        &len, GOPTS(.version = version, .every_kv = 1, .alignment = 16), ts, 2);
    elves_segments *s = parse_ok(f, len);
    elves_segments_free(s);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *g =
            malloc(cut ? cut : 1); /* exact size: ASan sees overreads */
        memcpy(g, f, cut);
        elves_error err = {0};
        s = (elves_segments *)1;
        int rc = elves_parse_gguf(&s, g, cut, &err);
        if (rc == ELVES_OK)
            fail_msg("prefix of %zu/%zu bytes accepted", cut, len);
        assert_null(s);
        assert_true(err.msg[0] != '\0');
        assert_int_equal(elves_segment_file(&s, g, cut, &err), ELVES_OK);
        assert_int_equal(s->format, ELVES_FMT_OPAQUE);
        assert_int_equal(elves_segments_check(s, cut, NULL), ELVES_OK);
        elves_segments_free(s);
        free(g);
    }
    free(f);
}

static void test_truncated_everywhere(void **state)
{
    truncate_everywhere(3);
    truncate_everywhere(2);
}

static void test_versions(void **state)
{
    size_t len;
    uint8_t *f = gguf_file(&len, GOPTS(.version = 1), three, 3);
    expect_error(f, len, ELVES_E_UNSUPPORTED, "GGUF version 1 not supported");
    free(f);
    f = gguf_file(&len, GOPTS(.version = 4), three, 3);
    expect_error(f, len, ELVES_E_UNSUPPORTED, "version 4");
    free(f);
    f = gguf_file(&len, GOPTS(.version = 0x03000000), three, 3);
    expect_error(f, len, ELVES_E_UNSUPPORTED, "big-endian");
    free(f);
}

static void test_bad_magic(void **state)
{
    size_t len;
    uint8_t *f = gguf_file(&len, GOPTS(), three, 3);
    f[3] = 'G';
    expect_error(f, len, ELVES_E_FORMAT, "bad magic");
    expect_error(f, 2, ELVES_E_FORMAT, "bad magic");
    free(f);
}

static void test_huge_counts(void **state)
{
    size_t len;
    uint8_t *f = gguf_file(&len, GOPTS(.every_kv = 1), three, 3);
    uint64_t huge = UINT64_MAX, saved;
    memcpy(&saved, f + 8, 8);
    memcpy(f + 8, &huge, 8);
    expect_error(f, len, ELVES_E_FORMAT, "tensor count");
    memcpy(f + 8, &saved, 8);
    memcpy(f + 16, &huge, 8);
    expect_error(f, len, ELVES_E_FORMAT, "kv count");
    huge = 1u << 20; /* plausible but larger than the file can hold */
    memcpy(f + 16, &huge, 8);
    expect_error(f, len, ELVES_E_FORMAT, "kv count");
    free(f);
}

static void test_too_many_dims(void **state)
{
    gtensor ts[] = {{"deep", 9, {1, 1, 1, 1, 1, 1, 1, 1, 1}, GT_F32, 4, -1}};
    expect_bad(GOPTS(), ts, 1, "tensor 'deep': 9 dims, at most 8");
}

static void test_dims_overflow(void **state)
{
    gtensor ts[] = {{"big", 3, {1ull << 32, 1ull << 32, 2}, GT_F32, 4, -1}};
    expect_bad(GOPTS(), ts, 1, "element count overflows");
    gtensor neg[] = {{"neg", 1, {UINT64_MAX}, GT_F32, 4, -1}};
    expect_bad(GOPTS(), neg, 1, "tensor 'neg': dimension 0 is negative");
    gtensor zero[] = {{"z", 3, {1ull << 40, 0, 1ull << 40}, GT_F32, 0, -1}};
    size_t len;
    uint8_t *f = gguf_file(&len, GOPTS(), zero, 1);
    elves_segments *s = parse_ok(f, len);
    assert_int_equal(s->items[s->count - 1].length, 0);
    elves_segments_free(s);
    free(f);
    gtensor bytes[] = {{"b", 2, {1ull << 31, 1ull << 31}, GT_F64, 4, -1}};
    expect_bad(GOPTS(), bytes, 1, "byte size overflows");
}

static void test_misaligned_offset(void **state)
{
    gtensor ts[] = {
        {"a", 1, {4}, GT_F32, 16, -1},
        {"b", 1, {4}, GT_F32, 16, 16},
    };
    expect_bad(GOPTS(), ts, 2,
               "tensor 'b': offset 16 is not a multiple of "
               "the alignment 32");
}

static void test_tensor_past_eof(void **state)
{
    gtensor ts[] = {{"w", 1, {4}, GT_F32, 16, 1ull << 40}};
    expect_bad(GOPTS(), ts, 1, "starts past the end of the file");
    gtensor big[] = {{"w", 1, {64}, GT_F32, 16, -1}};
    expect_bad(GOPTS(), big, 1, "run past the end of the file");
    gtensor q[] = {{"q", 1, {64}, GT_Q4_0, 36, UINT64_MAX - 31}};
    expect_bad(GOPTS(), q, 1, "starts past the end of the file");
}

static void test_overlap(void **state)
{
    gtensor ts[] = {
        {"a", 1, {16}, GT_F32, 64, 0},
        {"b", 1, {4}, GT_F32, 0, 32},
    };
    size_t len;
    uint8_t *f = gguf_file(&len, GOPTS(), ts, 2);
    expect_error(f, len, ELVES_E_FORMAT, "tensor 'b' at byte");
    free(f);
    gtensor q[] = {
        {"q1", 1, {32}, GT_Q4_0, 18, 0},
        {"q2", 1, {32}, GT_Q4_0, 18, 0},
    };
    expect_bad(GOPTS(), q, 2, "has no bytes before the next tensor");
}

static void test_bad_alignment(void **state)
{
    expect_bad(GOPTS(.alignment = 3), three, 3,
               "general.alignment 3 is not a power of two");
    expect_bad(GOPTS(.alignment = 48), three, 3, "not a power of two");
    expect_bad(GOPTS(.align_type = 10, .alignment = 32), three, 3,
               "general.alignment has type 10, expected u32");
    /* alignment 0: the writer lays out with 32 */
    gbuf b = {0};
    put(&b, "GGUF", 4), put_u32(&b, 3), put_u64(&b, 0), put_u64(&b, 1);
    put_str(&b, "general.alignment"), put_u32(&b, 4), put_u32(&b, 0);
    expect_error(b.p, b.len, ELVES_E_FORMAT, "alignment 0 is not a power");
    free(b.p);
}

/* Hand-written headers for the kv walker. */
static void expect_kv_bad(void (*write)(gbuf *), const char *needle)
{
    gbuf b = {0};
    put(&b, "GGUF", 4), put_u32(&b, 3), put_u64(&b, 0), put_u64(&b, 1);
    write(&b);
    put_zeros(&b, 64);
    expect_error(b.p, b.len, ELVES_E_FORMAT, needle);
    free(b.p);
}
static void kv_unknown_type(gbuf *b)
{
    put_str(b, "k"), put_u32(b, 13);
}
static void kv_unknown_elem(gbuf *b)
{
    put_str(b, "k"), put_u32(b, 9), put_u32(b, 77), put_u64(b, 1);
}
static void kv_huge_array(gbuf *b)
{
    put_str(b, "k"), put_u32(b, 9), put_u32(b, 12), put_u64(b, 1ull << 61);
}
static void kv_huge_string_array(gbuf *b)
{
    put_str(b, "k"), put_u32(b, 9), put_u32(b, 8), put_u64(b, UINT64_MAX);
}
static void kv_huge_string(gbuf *b)
{
    put_str(b, "k"), put_u32(b, 8), put_u64(b, UINT64_MAX);
}
static void kv_huge_key(gbuf *b)
{
    put_u64(b, 1ull << 40);
}
static void kv_too_deep(gbuf *b)
{
    put_str(b, "k"), put_u32(b, 9);
    for (int i = 0; i < 12; i++)
        put_u32(b, 9), put_u64(b, 1);
    put_u32(b, 0), put_u64(b, 0);
}

static void test_bad_kv(void **state)
{
    expect_kv_bad(kv_unknown_type, "kv 'k' has unknown type 13");
    expect_kv_bad(kv_unknown_elem, "unknown element type 77");
    expect_kv_bad(kv_huge_array, "array count 2305843009213693952");
    expect_kv_bad(kv_huge_string_array, "does not fit");
    expect_kv_bad(kv_huge_string, "truncated: string value");
    expect_kv_bad(kv_huge_key, "truncated: kv key");
    expect_kv_bad(kv_too_deep, "nested deeper than 8");
}

static void test_nul_in_name(void **state)
{
    gtensor ts[] = {{"a", 1, {4}, GT_F32, 16, -1}};
    size_t len;
    uint8_t *f = gguf_file(&len, GOPTS(), ts, 1);
    uint8_t *name = memmem(f, len, "\x01\0\0\0\0\0\0\0a", 9);
    assert_non_null(name);
    name[8] = 0;
    expect_error(f, len, ELVES_E_FORMAT, "contains a NUL byte");
    free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v3_default_alignment),
        cmocka_unit_test(test_v2),
        cmocka_unit_test(test_custom_alignments),
        cmocka_unit_test(test_alignment_one),
        cmocka_unit_test(test_every_plain_type),
        cmocka_unit_test(test_opaque_sized_by_next),
        cmocka_unit_test(test_unsorted_zero_size_scalar),
        cmocka_unit_test(test_no_tensors),
        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_bad_magic),
        cmocka_unit_test(test_huge_counts),
        cmocka_unit_test(test_too_many_dims),
        cmocka_unit_test(test_dims_overflow),
        cmocka_unit_test(test_misaligned_offset),
        cmocka_unit_test(test_tensor_past_eof),
        cmocka_unit_test(test_overlap),
        cmocka_unit_test(test_bad_alignment),
        cmocka_unit_test(test_bad_kv),
        cmocka_unit_test(test_nul_in_name),
    };
    return cmocka_run_group_tests_name("gguf", tests, NULL, NULL);
}
