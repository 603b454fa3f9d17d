/*
 * test_container.c - the container file: round trips of every real
 * checkpoint (bit-exact lossless, bounded ELF), in-file tensor dedup,
 * identical output whatever the thread count, and hostile containers
 * (truncated, bit-flipped, corrupted blocks) that must fail cleanly.
 */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include <cmocka.h>

#include "container_helpers.h"
#include "elves.h"

#define FOOTER 32

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

/* Names of the real checkpoints, sorted; NULL-terminated. */
static char **data_files(void)
{
    DIR *d = opendir(ELVES_SHARED_DATA);
    char **names = calloc(64, sizeof *names);
    size_t n = 0;
    struct dirent *e;

    assert_non_null(d);
    while ((e = readdir(d)) && n < 63) {
        size_t l = strlen(e->d_name);
        if (l > 12 && strcmp(e->d_name + l - 12, ".safetensors") == 0)
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (strcmp(names[i], names[j]) > 0) {
                char *t = names[i];
                names[i] = names[j];
                names[j] = t;
            }
    assert_true(n >= 1);
    return names;
}

static void free_names(char **names)
{
    for (size_t i = 0; names[i]; i++)
        free(names[i]);
    free(names);
}

static uint8_t *load(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", ELVES_SHARED_DATA, name);
    uint8_t *p = test_read_file(path, len);
    assert_non_null(p);
    return p;
}

/* Opens a container the way a remote reader would: first only the footer,
 * then as much tail as the footer asks for. */
static elves_container *open_from_tail(const th_buf *b)
{
    elves_container *c = NULL;
    elves_error err = {0, ""};
    size_t need = 0;

    int rc = elves_container_open(&c, b->p + b->len - FOOTER, FOOTER, b->len,
                                  &need, &err);
    assert_int_equal(rc, ELVES_E_SMALL);
    assert_true(need > FOOTER && need <= b->len);
    rc = elves_container_open(&c, b->p + b->len - need, need, b->len, &need,
                              &err);
    if (rc)
        fprintf(stderr, "open: %s\n", err.msg);
    assert_int_equal(rc, ELVES_OK);
    assert_int_equal(c->container_size, b->len);
    return c;
}

/* The whole original file, decoded through elves_decode_range. */
static uint8_t *decode_all(const elves_container *c, const th_buf *b,
                           unsigned threads)
{
    th_fetch f = {b->p, b->len, 0, NULL, 0};
    elves_error err = {0, ""};
    uint8_t *out = malloc(c->file_size ? c->file_size : 1);

    if (c->file_size == 0)
        return out;
    int rc = elves_decode_range(out, c->blocks, c->nblocks, 0, c->file_size - 1,
                                th_fetch_fn, &f, NULL, threads, &err);
    if (rc)
        fprintf(stderr, "decode: %s\n", err.msg);
    assert_int_equal(rc, ELVES_OK);
    return out;
}

static void sha(uint8_t out[32], const uint8_t *p, size_t n)
{
    assert_int_equal(elves_sha256(out, p, n), ELVES_OK);
}

/* ------------------------------------------------------------------------ */
/* Round trips                                                              */
/* ------------------------------------------------------------------------ */

static void roundtrip_lossless(const char *name, unsigned threads,
                               uint32_t block_size, size_t *total_in,
                               size_t *total_out)
{
    size_t len;
    uint8_t *data = load(name, &len), want[32], got[32];
    th_buf b;
    elves_container *info = NULL;

    assert_int_equal(th_compress(&b, &info, data, len, ELVES_MODE_LOSSLESS,
                                 threads, block_size),
                     ELVES_OK);
    assert_non_null(info);
    elves_container *c = open_from_tail(&b);
    assert_int_equal(c->file_size, len);
    assert_int_equal(c->format, ELVES_FMT_SAFETENSORS);
    assert_int_equal(c->nblocks, info->nblocks);
    assert_memory_equal(c->sha256, info->sha256, 32);
    uint8_t *out = decode_all(c, &b, threads);
    sha(want, data, len);
    sha(got, out, len);
    assert_memory_equal(want, got, 32);
    assert_memory_equal(c->sha256, want, 32);
    assert_memory_equal(out, data, len);
    *total_in += len;
    *total_out += b.len;
    free(out);
    elves_container_free(c);
    elves_container_free(info);
    free(b.p);
    free(data);
}

static void test_roundtrip_lossless_real_files(void **state)
{
    char **names = data_files();
    size_t in = 0, out = 0;

    for (size_t i = 0; names[i]; i++) {
        roundtrip_lossless(names[i], 2, 0, &in, &out);
        roundtrip_lossless(names[i], 1, 65536, &in, &out);
    }
    fprintf(stderr, "lossless: %zu -> %zu bytes\n", in, out);
    free_names(names);
}

/* Every F32 value of the decoded file within 2^-24 of the original (NaNs
 * kept bit-exact); every other byte exact. */
static void check_elf_output(const elves_container *c, const uint8_t *orig,
                             const uint8_t *dec)
{
    for (size_t s = 0; s < c->nsegments; s++) {
        const elves_segment *g = &c->segments[s].seg;
        if (g->kind != ELVES_SEG_TENSOR || g->dtype != ELVES_DT_F32) {
            assert_memory_equal(orig + g->offset, dec + g->offset, g->length);
            continue;
        }
        for (uint64_t k = 0; k + 4 <= g->length; k += 4) {
            float a, b;
            memcpy(&a, orig + g->offset + k, 4);
            memcpy(&b, dec + g->offset + k, 4);
            if (isnan(a) || isinf(a)) {
                assert_memory_equal(orig + g->offset + k, dec + g->offset + k,
                                    4);
                continue;
            }
            if (!(fabs((double)a - (double)b) <= ldexp(1.0, -24)))
                fail_msg("%s: value %g decoded as %g", g->name, a, b);
        }
    }
}

static void test_roundtrip_elf_real_files(void **state)
{
    char **names = data_files();
    size_t elf_segments = 0, lossy_files = 0;

    for (size_t i = 0; names[i]; i++) {
        size_t len;
        uint8_t *data = load(names[i], &len), got[32];
        th_buf b;
        assert_int_equal(th_compress(&b, NULL, data, len, ELVES_MODE_ELF, 2, 0),
                         ELVES_OK);
        elves_container *c = open_from_tail(&b);
        assert_int_equal(c->mode, ELVES_MODE_ELF);
        uint8_t *out = decode_all(c, &b, 2);
        check_elf_output(c, data, out);
        sha(got, out, len);
        assert_memory_equal(c->sha256, got, 32);
        for (size_t s = 0; s < c->nsegments; s++)
            elf_segments += c->segments[s].codec == ELVES_CODEC_ELF;
        lossy_files += memcmp(out, data, len) != 0;
        free(out);
        elves_container_free(c);
        free(b.p);
        free(data);
    }
    /* The lossy path (hashing decoded blocks) really ran. */
    assert_true(elf_segments > 0);
    assert_true(lossy_files > 0);
    free_names(names);
}

static void test_empty_file(void **state)
{
    th_buf b;
    elves_container *c = NULL;
    uint8_t want[32], byte;
    th_fetch f = {0};

    assert_int_equal(th_compress(&b, NULL, NULL, 0, ELVES_MODE_LOSSLESS, 1, 0),
                     ELVES_OK);
    c = open_from_tail(&b);
    assert_int_equal(c->file_size, 0);
    assert_int_equal(c->nblocks, 0);
    sha(want, (const uint8_t *)"", 0);
    assert_memory_equal(c->sha256, want, 32);
    f.p = b.p;
    f.len = b.len;
    assert_int_equal(elves_decode_range(&byte, c->blocks, c->nblocks, 0, 0,
                                        th_fetch_fn, &f, NULL, 1, NULL),
                     ELVES_E_RANGE);
    assert_int_equal(f.calls, 0);
    elves_container_free(c);
    free(b.p);
}

static void test_opaque_file(void **state)
{
    size_t len = 200003;
    uint8_t *data = malloc(len);
    uint64_t s = 7;
    th_buf b;

    for (size_t i = 0; i < len; i++)
        data[i] = (uint8_t)(i % 3 ? th_rand(&s) : i);
    assert_int_equal(
        th_compress(&b, NULL, data, len, ELVES_MODE_LOSSLESS, 2, 16384),
        ELVES_OK);
    elves_container *c = open_from_tail(&b);
    assert_int_equal(c->format, ELVES_FMT_OPAQUE);
    assert_int_equal(c->nblocks, (len + 16383) / 16384);
    uint8_t *out = decode_all(c, &b, 3);
    assert_memory_equal(out, data, len);
    free(out);
    elves_container_free(c);
    free(b.p);
    free(data);
}

/* ------------------------------------------------------------------------ */
/* Dedup                                                                    */
/* ------------------------------------------------------------------------ */

static size_t compress_size(const uint8_t *f, size_t n, elves_mode mode)
{
    th_buf b;
    assert_int_equal(th_compress(&b, NULL, f, n, mode, 1, 16384), ELVES_OK);
    free(b.p);
    return b.len;
}

static void test_dedup_in_file(void **state)
{
    enum { N = 20000 };
    float *w = malloc(N * 4), *v = malloc(N * 4), *w2 = malloc(N * 4);
    size_t len, len_flip;

    th_weights(w, N, 1);
    th_weights(v, N, 2);
    memcpy(w2, w, N * 4);
    w2[N / 2] += 1.0f; /* the same but for one value */
    th_tensor t[4] = {
        {"a", "F32", 2, {100, 200}, (uint8_t *)w, N * 4},
        {"b", "F32", 1, {N}, (uint8_t *)v, N * 4},
        {"c", "F32", 2, {100, 200}, (uint8_t *)w, N * 4},
        {"d", "F32", 2, {200, 100}, (uint8_t *)w, N * 4}, /* other shape */
    };
    uint8_t *f = th_safetensors(t, 4, &len);
    t[2].data = (uint8_t *)w2;
    uint8_t *flip = th_safetensors(t, 4, &len_flip);

    for (int mode = ELVES_MODE_LOSSLESS; mode <= ELVES_MODE_ELF; mode++) {
        th_buf b;
        uint8_t got[32];
        assert_int_equal(
            th_compress(&b, NULL, f, len, (elves_mode)mode, 2, 16384),
            ELVES_OK);
        elves_container *c = open_from_tail(&b);
        assert_int_equal(c->nsegments, 5); /* header + 4 tensors */
        if (mode == ELVES_MODE_ELF)
            assert_int_equal(c->segments[1].codec, ELVES_CODEC_ELF);
        const elves_container_segment *a = &c->segments[1],
                                      *cc = &c->segments[3],
                                      *d = &c->segments[4];
        assert_int_equal(a->dedup_of, -1);
        assert_int_equal(cc->dedup_of, 1);
        assert_int_equal(cc->stored_bytes, 0);
        assert_int_equal(d->dedup_of, -1); /* shape differs */
        assert_int_equal(cc->nblocks, a->nblocks);
        for (size_t k = 0; k < a->nblocks; k++)
            assert_int_equal(c->blocks[cc->first_block + k].loc,
                             c->blocks[a->first_block + k].loc);
        uint8_t *out = decode_all(c, &b, 1);
        if (mode == ELVES_MODE_LOSSLESS)
            assert_memory_equal(out, f, len);
        else
            check_elf_output(c, f, out);
        sha(got, out, len);
        assert_memory_equal(got, c->sha256, 32);
        size_t with_dup = b.len;
        size_t without = compress_size(flip, len_flip, (elves_mode)mode);
        assert_true(with_dup + a->stored_bytes / 2 < without);
        free(out);
        elves_container_free(c);
        free(b.p);
    }
    free(f);
    free(flip);
    free(w);
    free(v);
    free(w2);
}

/* ------------------------------------------------------------------------ */
/* Determinism across thread counts                                         */
/* ------------------------------------------------------------------------ */

static void test_threads_same_bytes(void **state)
{
    char **names = data_files();

    for (size_t i = 0; names[i] && i < 4; i++) {
        size_t len;
        uint8_t *data = load(names[i], &len);
        th_buf b1, b2, b4;
        assert_int_equal(
            th_compress(&b1, NULL, data, len, ELVES_MODE_LOSSLESS, 1, 32768),
            ELVES_OK);
        assert_int_equal(
            th_compress(&b2, NULL, data, len, ELVES_MODE_LOSSLESS, 2, 32768),
            ELVES_OK);
        assert_int_equal(
            th_compress(&b4, NULL, data, len, ELVES_MODE_LOSSLESS, 4, 32768),
            ELVES_OK);
        assert_int_equal(b1.len, b2.len);
        assert_int_equal(b1.len, b4.len);
        assert_memory_equal(b1.p, b2.p, b1.len);
        assert_memory_equal(b1.p, b4.p, b1.len);
        free(b1.p);
        free(b2.p);
        free(b4.p);
        free(data);
    }
    free_names(names);
}

/* A SHA-256 given by the caller is recorded as given, in lossless mode
 * only; the right one gives the container the encoder would have written
 * after hashing the input itself (on its own thread or not). */
static void test_given_sha256(void **state)
{
    char **names = data_files();
    size_t len;
    uint8_t *data = load(names[0], &len), digest[32], wrong[32];
    elves_encode_opts o = ELVES_ENCODE_OPTS_INIT;
    elves_error err = {0, ""};
    elves_container *info = NULL;
    th_buf own, given, bad;

    (void)state;
    sha(digest, data, len);
    memcpy(wrong, digest, 32);
    wrong[31] ^= 1;
    assert_int_equal(
        th_compress(&own, NULL, data, len, ELVES_MODE_LOSSLESS, 1, 32768),
        ELVES_OK);
    o.block_size = 32768;
    o.sha256 = digest;
    memset(&given, 0, sizeof given);
    assert_int_equal(elves_container_compress(NULL, data, len, &o, th_write,
                                              &given, &err),
                     ELVES_OK);
    assert_int_equal(own.len, given.len);
    assert_memory_equal(own.p, given.p, own.len);

    o.sha256 = wrong;
    o.threads = 2;
    memset(&bad, 0, sizeof bad);
    assert_int_equal(
        elves_container_compress(&info, data, len, &o, th_write, &bad, &err),
        ELVES_OK);
    assert_memory_equal(info->sha256, wrong, 32);
    elves_container_free(info);

    o.mode = ELVES_MODE_ELF;
    o.sha256 = digest;
    th_buf elf = {0};
    assert_int_equal(
        elves_container_compress(NULL, data, len, &o, th_write, &elf, &err),
        ELVES_E_INVALID);
    assert_non_null(strstr(err.msg, "lossless"));
    free(elf.p);
    free(own.p);
    free(given.p);
    free(bad.p);
    free(data);
    free_names(names);
}

/* ------------------------------------------------------------------------ */
/* Hostile containers                                                       */
/* ------------------------------------------------------------------------ */

/* A small container with several segments and blocks. */
static void small_container(th_buf *b, uint8_t **file, size_t *file_len)
{
    static float w[600];
    static int32_t ids[7] = {1, 2, 3, 4, 5, 6, 7};
    th_weights(w, 600, 3);
    th_tensor t[4] = {
        {"w", "F32", 2, {20, 30}, (uint8_t *)w, sizeof w},
        {"ids", "I32", 1, {7}, (uint8_t *)ids, sizeof ids},
        {"empty", "F32", 1, {0}, NULL, 0},
        {"w_again", "F32", 2, {20, 30}, (uint8_t *)w, sizeof w},
    };
    *file = th_safetensors(t, 4, file_len);
    assert_int_equal(
        th_compress(b, NULL, *file, *file_len, ELVES_MODE_LOSSLESS, 1, 512),
        ELVES_OK);
}

/* Opening a damaged container fails or yields a map that decodes without
 * crashing; returns the open status. */
static int open_and_try(const uint8_t *p, size_t len, size_t tail_len)
{
    elves_container *c = NULL;
    elves_error err = {0, ""};
    size_t need = 0;

    int rc = elves_container_open(&c, p + len - tail_len, tail_len, len, &need,
                                  &err);
    if (rc == ELVES_OK) {
        th_fetch f = {p, len, 0, NULL, 0};
        uint8_t *out = malloc(c->file_size ? c->file_size : 1);
        if (c->file_size && c->file_size < (1u << 26))
            (void)elves_decode_range(out, c->blocks, c->nblocks, 0,
                                     c->file_size - 1, th_fetch_fn, &f, NULL, 1,
                                     &err);
        free(out);
        elves_container_free(c);
    } else {
        assert_null(c);
        assert_true(err.msg[0] != '\0' || rc == ELVES_E_SMALL);
    }
    return rc;
}

static void test_truncated_containers(void **state)
{
    th_buf b;
    uint8_t *file;
    size_t flen;

    small_container(&b, &file, &flen);
    for (size_t l = 0; l < b.len; l++) {
        /* The container cut short: what is left is the whole of it. */
        uint8_t *cut = malloc(l ? l : 1);
        memcpy(cut, b.p, l);
        assert_int_not_equal(open_and_try(cut, l, l), ELVES_OK);
        free(cut);
        /* Only the last l bytes at hand: fine once the index fits. */
        int rc = open_and_try(b.p, b.len, l);
        assert_true(rc == ELVES_OK || rc == ELVES_E_SMALL);
    }
    free(file);
    free(b.p);
}

static uint64_t index_start(const th_buf *b)
{
    uint64_t off;
    memcpy(&off, b->p + b->len - FOOTER, 8);
    return off;
}

static void test_bitflips_over_index(void **state)
{
    th_buf b;
    uint8_t *file;
    size_t flen;

    small_container(&b, &file, &flen);
    uint64_t start = index_start(&b);
    for (size_t i = start; i < b.len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            b.p[i] ^= (uint8_t)(1u << bit);
            assert_int_not_equal(open_and_try(b.p, b.len, b.len), ELVES_OK);
            b.p[i] ^= (uint8_t)(1u << bit);
        }
    }
    assert_int_equal(open_and_try(b.p, b.len, b.len), ELVES_OK);
    free(file);
    free(b.p);
}

/* Flips with the index hash fixed up, so the structural checks are what
 * stands between the damage and the decoder. */
static void test_bitflips_with_valid_hash(void **state)
{
    th_buf b;
    uint8_t *file;
    size_t flen, ok = 0;

    small_container(&b, &file, &flen);
    uint64_t start = index_start(&b);
    size_t idx_len = b.len - FOOTER - start;
    for (size_t i = start; i < start + idx_len - 8; i++) {
        for (int bit = 0; bit < 8; bit++) {
            b.p[i] ^= (uint8_t)(1u << bit);
            uint64_t h = XXH3_64bits(b.p + start, idx_len - 8);
            memcpy(b.p + start + idx_len - 8, &h, 8);
            ok += open_and_try(b.p, b.len, b.len) == ELVES_OK;
            b.p[i] ^= (uint8_t)(1u << bit);
        }
    }
    uint64_t h = XXH3_64bits(b.p + start, idx_len - 8);
    memcpy(b.p + start + idx_len - 8, &h, 8);
    assert_int_equal(open_and_try(b.p, b.len, b.len), ELVES_OK);
    /* Only free-form fields (sha, names, gguf_type, shape of non-dedup'd
     * tensors) may change and still open. */
    assert_true(ok < idx_len * 8 / 2);
    free(file);
    free(b.p);
}

/* A flipped bit in a stored block is caught by the block's checks or the
 * checksum of its decoded bytes.  The only flips allowed through are those
 * a decoder ignores (say, an unused bit of a zstd frame header), and then
 * the output must still be exact. */
static void test_corrupted_block(void **state)
{
    th_buf b;
    uint8_t *file;
    size_t flen, flips = 0, caught = 0;
    elves_container *c;
    elves_error err = {0, ""};

    small_container(&b, &file, &flen);
    c = open_from_tail(&b);
    uint8_t *out = malloc(flen);
    for (size_t k = 0; k < c->nblocks; k++) {
        const elves_block_ref *r = &c->blocks[k];
        for (uint32_t at = 0; at < r->enc_len; at++) {
            if (at == 2 || at == 3)
                continue; /* dtype and flags: not covered by the checksum */
            uint8_t *p = b.p + r->loc + at;
            th_fetch f = {b.p, b.len, 0, NULL, 0};
            uint8_t bit = (uint8_t)(1u << (at % 8));
            *p ^= bit;
            int rc = elves_decode_range(
                out, c->blocks, c->nblocks, r->raw_offset,
                r->raw_offset + r->raw_len - 1, th_fetch_fn, &f, NULL, 1, &err);
            *p ^= bit;
            flips++;
            if (rc == ELVES_E_CORRUPT)
                caught++;
            else if (rc != ELVES_OK ||
                     memcmp(out, file + r->raw_offset, r->raw_len) != 0)
                fail_msg("block %zu (codec %d) flip at %u: rc %d, wrong bytes",
                         k, b.p[r->loc + 1], at, rc);
        }
    }
    assert_true(caught * 100 >= flips * 99);
    th_fetch f = {b.p, b.len, 0, NULL, 0};
    assert_int_equal(elves_decode_range(out, c->blocks, c->nblocks, 0, flen - 1,
                                        th_fetch_fn, &f, NULL, 2, &err),
                     ELVES_OK);
    assert_memory_equal(out, file, flen);
    free(out);
    elves_container_free(c);
    free(file);
    free(b.p);
}

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

static void test_write_failure(void **state)
{
    size_t len;
    uint8_t *data = load("human-emotion.safetensors", &len);
    elves_container *info = (elves_container *)1;
    elves_error err = {0, ""};
    elves_encode_opts o = ELVES_ENCODE_OPTS_INIT;

    o.block_size = 65536;
    for (int at = 1; at < 8; at++) {
        th_buf b = {0};
        b.fail_after = at;
        int rc =
            elves_container_compress(&info, data, len, &o, th_write, &b, &err);
        assert_int_equal(rc, ELVES_E_CALLBACK);
        assert_null(info);
        free(b.p);
    }
    free(data);
}

static void test_bad_arguments(void **state)
{
    elves_container *c = NULL;
    elves_encode_opts o = ELVES_ENCODE_OPTS_INIT;
    th_buf b = {0};
    uint8_t x[64] = {0};

    assert_int_equal(elves_container_compress(&c, x, 1, NULL, NULL, NULL, NULL),
                     ELVES_E_INVALID);
    assert_int_equal(
        elves_container_compress(&c, NULL, 1, NULL, th_write, &b, NULL),
        ELVES_E_INVALID);
    o.block_size = ELVES_MAX_BLOCK_SIZE + 1;
    assert_int_equal(elves_container_compress(&c, x, 1, &o, th_write, &b, NULL),
                     ELVES_E_INVALID);
    assert_int_equal(elves_container_open(NULL, x, 64, 64, NULL, NULL),
                     ELVES_E_INVALID);
    assert_int_equal(elves_container_open(&c, x, 64, 63, NULL, NULL),
                     ELVES_E_INVALID);
    assert_int_equal(elves_container_open(&c, x, 64, 64, NULL, NULL),
                     ELVES_E_CORRUPT);
    assert_int_equal(elves_container_open(&c, x, 0, 1000, NULL, NULL),
                     ELVES_E_SMALL);
    elves_container_free(NULL);
    free(b.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_lossless_real_files),
        cmocka_unit_test(test_roundtrip_elf_real_files),
        cmocka_unit_test(test_empty_file),
        cmocka_unit_test(test_opaque_file),
        cmocka_unit_test(test_dedup_in_file),
        cmocka_unit_test(test_threads_same_bytes),
        cmocka_unit_test(test_given_sha256),
        cmocka_unit_test(test_truncated_containers),
        cmocka_unit_test(test_bitflips_over_index),
        cmocka_unit_test(test_bitflips_with_valid_hash),
        cmocka_unit_test(test_corrupted_block),
        cmocka_unit_test(test_write_failure),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
