/*
 * test_delta.c - delta coding against a base: XOR blocks bit-exact for
 * every dtype and odd lengths, chosen only when smaller than the block
 * alone, a missing base an ELVES_E_BASE error and a wrong one a checksum
 * error (never wrong bytes), containers that record their base tensors
 * and base file hash, random access that reads only the base bytes under
 * the range, ELF mode keeping its bound.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/container_helpers.h"
#include "elves.h"

/* A fine-tune of w: most weights moved by a relative step of about 2^-10
 * (many BF16 values then round back to their base), every 7th left alone,
 * as training with a small learning rate does. */
static void fine_tune(float *ft, const float *w, size_t n, uint64_t seed)
{
    uint64_t s = seed | 1;
    for (size_t i = 0; i < n; i++) {
        double u = (double)(th_rand(&s) >> 11) / 9007199254740992.0 - 0.5;
        ft[i] = i % 7 == 3 ? w[i] : (float)(w[i] * (1.0 + u / 512.0));
    }
}

/* F32 to BF16, rounding to nearest even as torch does. */
static void to_bf16(uint16_t *out, const float *in, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t x;
        memcpy(&x, &in[i], 4);
        x += 0x7fffu + ((x >> 16) & 1u);
        out[i] = (uint16_t)(x >> 16);
    }
}

/* A base source over one buffer: every fingerprint reads from it; reads
 * counted, and failing when `missing` is set. */
typedef struct one_base {
    const uint8_t *p;
    size_t len;
    int missing;
    size_t reads;
    uint64_t bytes;
} one_base;

static int one_read(void *ctx, const elves_fp128 *fp, uint64_t off,
                    uint32_t len, uint8_t *out)
{
    one_base *b = ctx;
    (void)fp;
    b->reads++;
    b->bytes += len;
    if (b->missing || off > b->len || len > b->len - off)
        return -1;
    memcpy(out, b->p + off, len);
    return 0;
}

static elves_base_src one_src(one_base *b)
{
    elves_base_src s = {one_read, NULL, b, NULL};
    return s;
}

/* Encodes src against base as one block, checks it decodes back through
 * the base; returns the block's codec and its size in *size. */
static elves_codec delta_roundtrip(const uint8_t *src, const uint8_t *base,
                                   size_t n, elves_dtype dt, elves_codec alone,
                                   size_t *size)
{
    uint8_t *blk = malloc(elves_block_bound(n)), *out = malloc(n + 1);
    elves_delta d = {{{1, 2, 3}}, 0, base};
    one_base ob = {base, n, 0, 0, 0};
    elves_base_src bs = one_src(&ob);
    elves_block_info bi;
    size_t got = 0;

    assert_int_equal(elves_block_encode_delta(size, blk, elves_block_bound(n),
                                              src, n, dt, alone, &d, NULL),
                     ELVES_OK);
    assert_int_equal(elves_block_info_read(&bi, blk, *size), ELVES_OK);
    assert_int_equal(elves_block_decode_base(&got, out, n + 1, blk, *size, &bs,
                                             NULL),
                     ELVES_OK);
    assert_int_equal(got, n);
    assert_memory_equal(out, src, n);
    free(blk);
    free(out);
    return bi.codec;
}

static void test_xor_block_bf16_f32(void **state)
{
    (void)state;
    enum { N = 1 << 16 };
    float *w = malloc(N * 4), *ft = malloc(N * 4);
    uint16_t *wb = malloc(N * 2), *fb = malloc(N * 2);
    size_t xsize = 0, asize = 0;
    uint8_t *tmp = malloc(elves_block_bound(N * 4));

    th_weights(w, N, 11);
    fine_tune(ft, w, N, 12);
    to_bf16(wb, w, N);
    to_bf16(fb, ft, N);
    /* F32 and BF16 fine-tunes code as XOR, smaller than alone. */
    assert_int_equal(delta_roundtrip((uint8_t *)ft, (uint8_t *)w, N * 4,
                                     ELVES_DT_F32, ELVES_CODEC_FLOAT, &xsize),
                     ELVES_CODEC_DELTA);
    assert_int_equal(elves_block_encode(&asize, tmp, elves_block_bound(N * 4),
                                        (uint8_t *)ft, N * 4, ELVES_DT_F32,
                                        ELVES_CODEC_FLOAT, NULL),
                     ELVES_OK);
    assert_true(xsize < asize);
    assert_int_equal(delta_roundtrip((uint8_t *)fb, (uint8_t *)wb, N * 2,
                                     ELVES_DT_BF16, ELVES_CODEC_FLOAT, &xsize),
                     ELVES_CODEC_DELTA);
    assert_int_equal(elves_block_encode(&asize, tmp, elves_block_bound(N * 2),
                                        (uint8_t *)fb, N * 2, ELVES_DT_BF16,
                                        ELVES_CODEC_FLOAT, NULL),
                     ELVES_OK);
    assert_true(xsize * 3 < asize * 2); /* BF16: well under 2/3 */
    /* Against an unrelated base the block alone wins. */
    th_weights(w, N, 99);
    assert_int_not_equal(delta_roundtrip((uint8_t *)ft, (uint8_t *)w, N * 4,
                                         ELVES_DT_F32, ELVES_CODEC_FLOAT,
                                         &xsize),
                         ELVES_CODEC_DELTA);
    /* The same bytes as the base: a near-empty XOR block. */
    assert_int_equal(delta_roundtrip((uint8_t *)ft, (uint8_t *)ft, N * 4,
                                     ELVES_DT_F32, ELVES_CODEC_FLOAT, &xsize),
                     ELVES_CODEC_DELTA);
    assert_true(xsize < 100);
    free(w);
    free(ft);
    free(wb);
    free(fb);
    free(tmp);
}

/* Every dtype and lengths that are not a whole number of elements: the
 * XOR of a few flipped bits is bit-exact. */
static void test_xor_every_dtype(void **state)
{
    (void)state;
    enum { N = 9001 };
    uint8_t *a = malloc(N), *b = malloc(N);
    uint64_t s = 5;
    size_t size;

    for (size_t i = 0; i < N; i++)
        a[i] = (uint8_t)th_rand(&s);
    for (int dt = 0; dt < ELVES_DT_COUNT; dt++) {
        for (size_t n = 1; n <= N; n = n * 3 + 1) {
            memcpy(b, a, n);
            for (size_t i = 0; i < n; i += 17)
                b[i] ^= (uint8_t)(1u << (i % 3));
            delta_roundtrip(b, a, n, (elves_dtype)dt, ELVES_CODEC_ZSTD, &size);
        }
    }
    free(a);
    free(b);
}

/* No base: ELVES_E_BASE naming the fingerprint; another base: the
 * checksum catches it; a damaged payload is CORRUPT. */
static void test_xor_missing_and_wrong_base(void **state)
{
    (void)state;
    enum { N = 1 << 14 };
    /* The block is at offset 4096 of its base tensor: the sources hold
     * 4096 bytes before it. */
    float *w = malloc(N * 4 + 4096), *ft = malloc(N * 4);
    float *other = malloc(N * 4 + 4096);
    uint8_t *blk = malloc(elves_block_bound(N * 4)), *out = malloc(N * 4);
    elves_delta d = {{{0xab}}, 4096, (uint8_t *)w + 4096};
    one_base ob = {(uint8_t *)other, N * 4 + 4096, 0, 0, 0};
    elves_base_src bs = one_src(&ob);
    elves_error err = {0, ""};
    elves_fp128 fp;
    uint64_t off = 0;
    size_t size = 0, got = 0;

    th_weights(w + 1024, N, 1);
    fine_tune(ft, w + 1024, N, 2);
    memcpy(other, w, N * 4 + 4096);
    other[1024 + N / 2] += 1.0f;
    assert_int_equal(elves_block_encode_delta(&size, blk,
                                              elves_block_bound(N * 4),
                                              (uint8_t *)ft, N * 4,
                                              ELVES_DT_F32, ELVES_CODEC_FLOAT,
                                              &d, NULL),
                     ELVES_OK);
    assert_int_equal(elves_block_base(&fp, &off, blk, size), 1);
    assert_int_equal(fp.b[0], 0xab);
    assert_int_equal(off, 4096);
    assert_int_equal(elves_block_decode(&got, out, N * 4, blk, size, &err),
                     ELVES_E_BASE);
    assert_non_null(strstr(err.msg, "ab000000"));
    ob.missing = 1;
    assert_int_equal(elves_block_decode_base(&got, out, N * 4, blk, size, &bs,
                                             &err),
                     ELVES_E_BASE);
    ob.missing = 0;
    assert_int_equal(elves_block_decode_base(&got, out, N * 4, blk, size, &bs,
                                             &err),
                     ELVES_E_CORRUPT);
    assert_non_null(strstr(err.msg, "checksum"));
    /* Truncated payloads and flipped bytes: errors, never a crash. */
    ob.p = (uint8_t *)w;
    for (size_t cut = ELVES_BLOCK_HEADER_SIZE; cut < size; cut += 97)
        assert_int_not_equal(elves_block_decode_base(&got, out, N * 4, blk,
                                                     cut, &bs, NULL),
                             ELVES_OK);
    /* (a flip zstd does not read, such as a frame's spare bits, may still
     * give the right bytes: never other bytes) */
    for (size_t i = ELVES_BLOCK_HEADER_SIZE + 24; i < size; i += 31) {
        blk[i] ^= 0x40;
        int rc = elves_block_decode_base(&got, out, N * 4, blk, size, &bs,
                                         NULL);
        assert_true(rc != ELVES_OK || memcmp(out, ft, N * 4) == 0);
        blk[i] ^= 0x40;
    }
    assert_int_equal(elves_block_decode_base(&got, out, N * 4, blk, size, &bs,
                                             NULL),
                     ELVES_OK);
    assert_memory_equal(out, ft, N * 4);
    free(w);
    free(ft);
    free(other);
    free(blk);
    free(out);
}

/* A base checkpoint and a fine-tune of it as safetensors files. */
typedef struct family {
    uint8_t *base, *ft;
    size_t base_len, ft_len;
    float *w[3], *f[3];
    uint16_t *wb, *fb;
} family;

static void family_make(family *fm)
{
    static const size_t n[3] = {300000, 4096, 70000};
    th_tensor bt[4], ft[4];
    memset(fm, 0, sizeof *fm);
    for (int k = 0; k < 3; k++) {
        fm->w[k] = malloc(n[k] * 4);
        fm->f[k] = malloc(n[k] * 4);
        th_weights(fm->w[k], n[k], 100 + (uint64_t)k);
        fine_tune(fm->f[k], fm->w[k], n[k], 200 + (uint64_t)k);
    }
    fm->wb = malloc(n[2] * 2);
    fm->fb = malloc(n[2] * 2);
    to_bf16(fm->wb, fm->w[2], n[2]);
    to_bf16(fm->fb, fm->f[2], n[2]);
    /* a.weight F32, b.bias F32 (grouped with nothing: 16 KiB), c BF16,
     * d: only in the fine-tune */
    bt[0] = (th_tensor){"a.weight", "F32", 2, {600, 500}, (uint8_t *)fm->w[0],
                        n[0] * 4};
    bt[1] = (th_tensor){"b.bias", "F32", 1, {4096}, (uint8_t *)fm->w[1],
                        n[1] * 4};
    bt[2] = (th_tensor){"c.weight", "BF16", 1, {70000}, (uint8_t *)fm->wb,
                        n[2] * 2};
    ft[0] = bt[0], ft[1] = bt[1], ft[2] = bt[2];
    ft[0].data = (uint8_t *)fm->f[0];
    ft[1].data = (uint8_t *)fm->f[1];
    ft[2].data = (uint8_t *)fm->fb;
    ft[3] = (th_tensor){"d.new", "F32", 1, {70000}, (uint8_t *)fm->f[2],
                        n[2] * 4};
    fm->base = th_safetensors(bt, 3, &fm->base_len);
    fm->ft = th_safetensors(ft, 4, &fm->ft_len);
}

static void family_free(family *fm)
{
    for (int k = 0; k < 3; k++) {
        free(fm->w[k]);
        free(fm->f[k]);
    }
    free(fm->wb);
    free(fm->fb);
    free(fm->base);
    free(fm->ft);
}

/* Compresses fm->ft against fm->base in mode; returns the container. */
static elves_container *family_compress(th_buf *out, const family *fm,
                                        elves_base_file **bf,
                                        elves_base_src *src, elves_mode mode,
                                        unsigned threads, uint8_t sha[32])
{
    elves_encode_opts o = ELVES_ENCODE_OPTS_INIT;
    elves_container *info = NULL;
    elves_error err = {0, ""};

    assert_int_equal(elves_base_file_open(bf, fm->base, fm->base_len, &err),
                     ELVES_OK);
    assert_int_equal(elves_base_file_tensors(*bf), 3);
    elves_base_file_src(src, *bf);
    assert_int_equal(elves_sha256(sha, fm->base, fm->base_len), ELVES_OK);
    src->file_sha256 = sha;
    o.mode = mode;
    o.threads = threads;
    o.block_size = 64 << 10;
    o.base = src;
    memset(out, 0, sizeof *out);
    assert_int_equal(elves_container_compress(&info, fm->ft, fm->ft_len, &o,
                                              th_write, out, &err),
                     ELVES_OK);
    return info;
}

static void test_container_delta(void **state)
{
    (void)state;
    family fm;
    th_buf alone, delta;
    elves_container *ai = NULL, *di, *c = NULL;
    elves_base_file *bf;
    elves_base_src src;
    uint8_t sha[32], *out;
    elves_error err = {0, ""};
    uint64_t s = 3;

    family_make(&fm);
    assert_int_equal(th_compress(&alone, &ai, fm.ft, fm.ft_len,
                                 ELVES_MODE_LOSSLESS, 2, 64 << 10),
                     ELVES_OK);
    for (unsigned threads = 1; threads <= 2; threads++) {
        di = family_compress(&delta, &fm, &bf, &src, ELVES_MODE_LOSSLESS,
                             threads, sha);
        /* three tensors of the base matched by name, d.new alone */
        assert_int_equal(di->ndelta, 3);
        assert_true(delta.len * 10 < alone.len * 8);
        assert_int_equal(th_open(&c, &delta), ELVES_OK);
        assert_int_equal(c->ndelta, 3);
        assert_true(c->has_base_sha);
        assert_memory_equal(c->base_sha256, sha, 32);
        for (size_t i = 0; i < c->nsegments; i++) {
            const elves_container_segment *cs = &c->segments[i];
            int want = cs->seg.name && strcmp(cs->seg.name, "d.new") != 0;
            assert_int_equal(cs->has_base, want);
        }
        out = malloc(fm.ft_len);
        /* the whole file through the base, then without it */
        assert_int_equal(elves_decode_range_mem(out, c->blocks, c->nblocks, 0,
                                                fm.ft_len - 1, delta.p,
                                                delta.len, &src, threads,
                                                &err),
                         ELVES_OK);
        assert_memory_equal(out, fm.ft, fm.ft_len);
        assert_int_equal(elves_decode_range_mem(out, c->blocks, c->nblocks, 0,
                                                fm.ft_len - 1, delta.p,
                                                delta.len, NULL, threads,
                                                &err),
                         ELVES_E_BASE);
        /* random ranges read only the base bytes under them */
        for (int k = 0; k < 50; k++) {
            uint64_t a = th_rand(&s) % fm.ft_len;
            uint64_t z = a + th_rand(&s) % 70000;
            th_fetch f = {delta.p, delta.len, 0, NULL, 0};
            if (z >= fm.ft_len)
                z = fm.ft_len - 1;
            assert_int_equal(elves_decode_range(out, c->blocks, c->nblocks, a,
                                                z, th_fetch_fn, &f, &src,
                                                threads, &err),
                             ELVES_OK);
            assert_memory_equal(out, fm.ft + a, (size_t)(z - a + 1));
        }
        free(out);
        elves_container_free(c);
        elves_container_free(di);
        elves_base_file_free(bf);
        free(delta.p);
    }
    elves_container_free(ai);
    free(alone.p);
    family_free(&fm);
}

/* Range decoding asks the base for the bytes under the range only. */
static void test_range_reads_base_under_range(void **state)
{
    (void)state;
    enum { N = 1 << 18 };
    float *w = malloc(N * 4), *ft = malloc(N * 4);
    th_tensor bt = {"x", "F32", 1, {N}, (uint8_t *)w, N * 4};
    th_tensor tt = {"x", "F32", 1, {N}, (uint8_t *)ft, N * 4};
    size_t blen, flen;
    uint8_t *base, *file, out[100];
    elves_base_file *bf;
    elves_base_src real, counting;
    elves_encode_opts o = ELVES_ENCODE_OPTS_INIT;
    elves_container *c = NULL;
    th_buf buf;

    th_weights(w, N, 7);
    fine_tune(ft, w, N, 8);
    base = th_safetensors(&bt, 1, &blen);
    file = th_safetensors(&tt, 1, &flen);
    assert_int_equal(elves_base_file_open(&bf, base, blen, NULL), ELVES_OK);
    elves_base_file_src(&real, bf);
    o.block_size = 64 << 10;
    o.base = &real;
    memset(&buf, 0, sizeof buf);
    assert_int_equal(elves_container_compress(&c, file, flen, &o, th_write,
                                              &buf, NULL),
                     ELVES_OK);
    assert_int_equal(c->ndelta, 1);
    assert_false(c->has_base_sha);
    /* The tensor's bytes as the base source: x's data only. */
    one_base ob = {(uint8_t *)w, N * 4, 0, 0, 0};
    counting = one_src(&ob);
    uint64_t at = flen - N * 4 + 300000;
    assert_int_equal(elves_decode_range_mem(out, c->blocks, c->nblocks, at,
                                            at + 99, buf.p, buf.len,
                                            &counting, 1, NULL),
                     ELVES_OK);
    assert_memory_equal(out, file + at, 100);
    assert_int_equal(ob.reads, 1);
    assert_int_equal(ob.bytes, 64 << 10);
    elves_container_free(c);
    elves_base_file_free(bf);
    free(buf.p);
    free(base);
    free(file);
    free(w);
    free(ft);
}

/* ELF mode: tensors coded against a base decode exactly, the others
 * within the bound, and the file is no larger than ELF alone. */
static void test_elf_mode_delta(void **state)
{
    (void)state;
    family fm;
    th_buf alone, delta;
    elves_container *ai = NULL, *di;
    elves_base_file *bf;
    elves_base_src src;
    uint8_t sha[32];
    float *out;

    family_make(&fm);
    assert_int_equal(th_compress(&alone, &ai, fm.ft, fm.ft_len,
                                 ELVES_MODE_ELF, 1, 64 << 10),
                     ELVES_OK);
    di = family_compress(&delta, &fm, &bf, &src, ELVES_MODE_ELF, 1, sha);
    assert_true(delta.len < alone.len);
    out = malloc(fm.ft_len);
    assert_int_equal(elves_decode_range_mem((uint8_t *)out, di->blocks,
                                            di->nblocks, 0, fm.ft_len - 1,
                                            delta.p, delta.len, &src, 1, NULL),
                     ELVES_OK);
    for (size_t i = 0; i < di->nsegments; i++) {
        const elves_container_segment *cs = &di->segments[i];
        const uint8_t *got = (const uint8_t *)out + cs->seg.offset;
        const uint8_t *want = fm.ft + cs->seg.offset;
        if (cs->seg.dtype != ELVES_DT_F32) {
            assert_memory_equal(got, want, cs->seg.length);
            continue;
        }
        for (size_t k = 0; k < cs->seg.length / 4; k++) {
            float g, w;
            memcpy(&g, got + 4 * k, 4);
            memcpy(&w, want + 4 * k, 4);
            assert_true(g - w <= 0x1p-24f && w - g <= 0x1p-24f);
        }
    }
    free(out);
    elves_container_free(di);
    elves_container_free(ai);
    elves_base_file_free(bf);
    free(delta.p);
    free(alone.p);
    family_free(&fm);
}

/* The yardstick: order-0 entropy of the XOR's byte planes. */
static void test_xor_entropy_bound(void **state)
{
    (void)state;
    uint8_t a[4096], b[4096];
    memset(a, 7, sizeof a);
    memcpy(b, a, sizeof b);
    assert_true(elves_xor_entropy_bound(a, b, sizeof a, ELVES_DT_F32) < 1e-9);
    for (size_t i = 0; i < sizeof b; i += 2)
        b[i] ^= 1; /* planes 0 and 2 all ones: zero entropy, still 0 */
    assert_true(elves_xor_entropy_bound(a, b, sizeof a, ELVES_DT_F32) < 1e-9);
    for (size_t i = 0; i < sizeof b; i += 8)
        b[i] ^= 2; /* plane 0 now half 1, half 3: one bit each */
    double h = elves_xor_entropy_bound(a, b, sizeof a, ELVES_DT_F32);
    assert_true(h > 127.9 && h < 128.1); /* 1024 elements x 1 bit */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xor_block_bf16_f32),
        cmocka_unit_test(test_xor_every_dtype),
        cmocka_unit_test(test_xor_missing_and_wrong_base),
        cmocka_unit_test(test_container_delta),
        cmocka_unit_test(test_range_reads_base_under_range),
        cmocka_unit_test(test_elf_mode_delta),
        cmocka_unit_test(test_xor_entropy_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
