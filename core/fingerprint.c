/*
 * fingerprint.c - content hashes: the 128-bit tensor fingerprint used for
 * dedup (XXH3-128 over dtype, shape and bytes) and SHA-256 of whole files
 * (OpenSSL libcrypto) for integrity and for the ETag the server reports.
 */
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include <openssl/evp.h>
#include <stdlib.h>

#include "internal.h"

struct elves_sha256_ctx {
    EVP_MD_CTX *md;
};

/* ------------------------------------------------------------------------ */
/* Tensor fingerprints                                                      */
/* ------------------------------------------------------------------------ */

/*
 * The hashed stream is: u32 dtype, u32 ndim, u64 shape[ndim], u64 byte
 * length, then the bytes, all little-endian.  The explicit ndim and length
 * keep [6] apart from [6,1] and make the stream unambiguous.
 */
void elves_tensor_fingerprint(elves_fp128 *out, elves_dtype dt,
                              const uint64_t *shape, uint32_t ndim,
                              const uint8_t *data, size_t len)
{
    XXH3_state_t st;
    uint8_t word[8];

    if (!out)
        return;
    if (!shape)
        ndim = 0;
    if (!data)
        len = 0;
    XXH3_INITSTATE(&st);
    XXH3_128bits_reset(&st);
    es_store32(word, (uint32_t)dt);
    XXH3_128bits_update(&st, word, 4);
    es_store32(word, ndim);
    XXH3_128bits_update(&st, word, 4);
    for (uint32_t i = 0; i < ndim; i++) {
        es_store64(word, shape[i]);
        XXH3_128bits_update(&st, word, 8);
    }
    es_store64(word, (uint64_t)len);
    XXH3_128bits_update(&st, word, 8);
    if (len)
        XXH3_128bits_update(&st, data, len);

    XXH128_canonical_t canon;
    XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(&st));
    memcpy(out->b, canon.digest, sizeof out->b);
}

void elves_fp128_hex(char out[33], const elves_fp128 *fp)
{
    elves_hex(out, fp->b, sizeof fp->b);
}

void elves_hex(char *out, const uint8_t *bytes, size_t n)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

/* ------------------------------------------------------------------------ */
/* SHA-256                                                                  */
/* ------------------------------------------------------------------------ */

int elves_sha256(uint8_t out[32], const uint8_t *data, size_t len)
{
    if (!out || (!data && len))
        return ELVES_E_INVALID;
    if (!EVP_Digest(data ? (const void *)data : "", len, out, NULL,
                    EVP_sha256(), NULL))
        return ELVES_E_NOMEM; /* libcrypto fails only on allocation here */
    return ELVES_OK;
}

int elves_sha256_new(elves_sha256_ctx **out)
{
    elves_sha256_ctx *ctx;

    if (!out)
        return ELVES_E_INVALID;
    *out = NULL;
    ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return ELVES_E_NOMEM;
    ctx->md = EVP_MD_CTX_new();
    if (!ctx->md || !EVP_DigestInit_ex(ctx->md, EVP_sha256(), NULL)) {
        elves_sha256_free(ctx);
        return ELVES_E_NOMEM;
    }
    *out = ctx;
    return ELVES_OK;
}

int elves_sha256_update(elves_sha256_ctx *ctx, const void *data, size_t len)
{
    if (!ctx || (!data && len))
        return ELVES_E_INVALID;
    if (len && !EVP_DigestUpdate(ctx->md, data, len))
        return ELVES_E_INVALID; /* called after final */
    return ELVES_OK;
}

/* Writes the digest; the context may not be updated afterwards, only
 * freed. */
int elves_sha256_final(elves_sha256_ctx *ctx, uint8_t out[32])
{
    unsigned int n = 0;

    if (!ctx || !out)
        return ELVES_E_INVALID;
    if (!EVP_DigestFinal_ex(ctx->md, out, &n) || n != 32)
        return ELVES_E_INVALID;
    return ELVES_OK;
}

void elves_sha256_free(elves_sha256_ctx *ctx)
{
    if (!ctx)
        return;
    EVP_MD_CTX_free(ctx->md);
    free(ctx);
}

/* ---- finding tensors again ---------------------------------------------- */

int es_fp_table_init(es_fp_table *t, size_t nseg)
{
    size_t cap = 16;

    while (cap < 2 * nseg)
        cap *= 2;
    t->mask = cap - 1;
    t->slot = calloc(cap, sizeof *t->slot);
    t->fp = calloc(nseg ? nseg : 1, sizeof *t->fp);
    if (t->slot && t->fp)
        return ELVES_OK;
    es_fp_table_free(t);
    return ELVES_E_NOMEM;
}

void es_fp_table_free(es_fp_table *t)
{
    free(t->slot);
    free(t->fp);
    t->slot = NULL;
    t->fp = NULL;
}

size_t es_fp_table_find_or_add(es_fp_table *t, const elves_segments *segs,
                               const uint8_t *data, size_t i)
{
    const elves_segment *s = &segs->items[i];

    elves_tensor_fingerprint(&t->fp[i], s->dtype, s->shape, s->ndim,
                             data + s->offset, (size_t)s->length);
    size_t h = (size_t)es_load64(t->fp[i].b) & t->mask;
    for (; t->slot[h]; h = (h + 1) & t->mask) {
        size_t j = t->slot[h] - 1;
        const elves_segment *o = &segs->items[j];
        if (memcmp(&t->fp[j], &t->fp[i], sizeof t->fp[i]) == 0 &&
            o->length == s->length &&
            memcmp(data + o->offset, data + s->offset, (size_t)s->length) == 0)
            return j;
    }
    t->slot[h] = i + 1;
    return SIZE_MAX;
}
