/*
 * fuzz_container.c - libFuzzer target for the container reader: the input
 * is a whole container; it is opened with elves_container_open and, if
 * that succeeds, some byte ranges are decoded twice, with blocks fetched
 * from the input and where they lie in it (elves_decode_range_mem): both
 * must agree.  The input is tried twice: as it is, and with its index hash
 * recomputed so that mutations reach the structural checks behind it.
 * Hostile input must give errors, never a crash, a leak or UB.  XOR
 * (delta) blocks read their base from a source that makes bytes up.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "elves.h"

#define FOOTER_LEN 32u
#define MAX_OUT ((uint64_t)1 << 20)

typedef struct input {
    const uint8_t *p;
    size_t len;
} input;

static int fetch(void *ctx, const elves_block_ref *ref, uint8_t *buf)
{
    const input *in = ctx;

    if (ref->loc > in->len || ref->enc_len > in->len - ref->loc)
        return -1;
    memcpy(buf, in->p + ref->loc, ref->enc_len);
    return 0;
}

static int made_up_base(void *ctx, const elves_fp128 *fp, uint64_t off,
                        uint32_t len, uint8_t *out)
{
    (void)ctx;
    for (uint32_t i = 0; i < len; i++)
        out[i] = (uint8_t)(fp->b[(off + i) % 16] + off + i);
    return 0;
}

static const elves_base_src made_up = {made_up_base, NULL, NULL, NULL};

static void decode(const elves_container *c, const input *in, uint64_t a,
                   uint64_t z, unsigned threads)
{
    elves_error err;
    uint8_t *out, *out_mem;
    size_t n;

    if (c->file_size == 0 || a > z || z >= c->file_size || z - a >= MAX_OUT)
        return;
    n = (size_t)(z - a + 1);
    out = malloc(n);
    out_mem = malloc(n);
    if (out && out_mem) {
        int rc = elves_decode_range(out, c->blocks, c->nblocks, a, z, fetch,
                                    (void *)in, &made_up, threads, &err);
        int rc_mem =
            elves_decode_range_mem(out_mem, c->blocks, c->nblocks, a, z, in->p,
                                   in->len, &made_up, threads, &err);
        /* A block out of the input is a fetch failure on one side and
         * corrupt on the other; otherwise the two read the same bytes. */
        if ((rc == ELVES_OK) != (rc_mem == ELVES_OK) ||
            (rc == ELVES_OK && memcmp(out, out_mem, n) != 0))
            abort();
    }
    free(out);
    free(out_mem);
}

/* Ranges picked from the file's ends, block edges and the input's own
 * bytes. */
static void decode_some(const elves_container *c, const input *in)
{
    uint64_t n = c->file_size, h = XXH3_64bits(in->p, in->len);

    if (n == 0)
        return;
    decode(c, in, 0, n - 1, 1);
    decode(c, in, 0, 0, 1);
    decode(c, in, n - 1, n - 1, 2);
    decode(c, in, h % n, h % n + (h >> 32) % 5000, 2);
    if (c->nblocks) {
        const elves_block_ref *r = &c->blocks[(h >> 16) % c->nblocks];
        decode(c, in, r->raw_offset, r->raw_offset + r->raw_len - 1, 1);
        decode(c, in, r->raw_offset + r->raw_len - 1,
               r->raw_offset + r->raw_len, 3);
    }
}

static void try_open(const uint8_t *p, size_t len)
{
    elves_container *c = NULL;
    elves_error err;
    size_t need = 0;
    input in = {p, len};

    if (elves_container_open(&c, p, len, len, &need, &err) == ELVES_OK) {
        decode_some(c, &in);
        elves_container_free(c);
    }
    /* As a tail: only the last part at hand. */
    if (len > 64 && elves_container_open(&c, p + len / 2, len - len / 2, len,
                                         &need, &err) == ELVES_OK)
        elves_container_free(c);
}

/* Rewrites the index hash the footer implies, if the footer is sane. */
static int fix_index_hash(uint8_t *p, size_t len)
{
    uint64_t off, ilen;

    if (len < FOOTER_LEN + 16)
        return 0;
    memcpy(&off, p + len - FOOTER_LEN, 8);
    memcpy(&ilen, p + len - FOOTER_LEN + 8, 8);
    if (ilen < 16 || ilen > len - FOOTER_LEN || off != len - FOOTER_LEN - ilen)
        return 0;
    uint64_t h = XXH3_64bits(p + off, (size_t)(ilen - 8));
    memcpy(p + off + ilen - 8, &h, 8);
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    try_open(data, size);
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    if (fix_index_hash(copy, size))
        try_open(copy, size);
    free(copy);
    return 0;
}
