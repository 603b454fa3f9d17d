/*
 * stream.c - the entropy stage: stores a separated byte stream raw, as a
 * constant, or through zstd (order-0 entropy setting or full LZ level),
 * whichever is smallest.  See stream.h for the format.
 */
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_c_literalCompressionMode */
#include <zstd.h>
#include <zstd_errors.h>

#include "internal.h"
#include "stream.h"

void es_stream_ctx_init(es_stream_ctx *sc)
{
    sc->cctx = NULL;
    sc->dctx = NULL;
    sc->cctx_level = 0;
}

void es_stream_ctx_free(es_stream_ctx *sc)
{
    ZSTD_freeCCtx(sc->cctx);
    ZSTD_freeDCtx(sc->dctx);
    es_stream_ctx_init(sc);
}

/*
 * The order-0 setting: zstd's fast strategy with match sampling spread far
 * apart (targetLength) and long minimum matches, so nearly every byte goes
 * to the Huffman-coded literals; literal compression is forced on because
 * zstd disables it by default for this strategy.
 */
static int load_entropy_params(ZSTD_CCtx *c)
{
    size_t r = 0, e = 0;
    r = ZSTD_CCtx_setParameter(c, ZSTD_c_strategy, ZSTD_fast);
    e |= ZSTD_isError(r);
    r = ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, 17);
    e |= ZSTD_isError(r);
    r = ZSTD_CCtx_setParameter(c, ZSTD_c_hashLog, 10);
    e |= ZSTD_isError(r);
    r = ZSTD_CCtx_setParameter(c, ZSTD_c_minMatch, 7);
    e |= ZSTD_isError(r);
    r = ZSTD_CCtx_setParameter(c, ZSTD_c_targetLength, 64);
    e |= ZSTD_isError(r);
    r = ZSTD_CCtx_setParameter(c, ZSTD_c_literalCompressionMode,
                               ZSTD_ps_enable);
    e |= ZSTD_isError(r);
    return e ? -1 : 0;
}

static int load_params(es_stream_ctx *sc, int level)
{
    ZSTD_CCtx *c = sc->cctx;
    int bad;
    if (sc->cctx_level == level)
        return 0;
    ZSTD_CCtx_reset(c, ZSTD_reset_session_and_parameters);
    if (level == ES_ENTROPY)
        bad = load_entropy_params(c);
    else
        bad = ZSTD_isError(
            ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level));
    /* The decoder always knows the size; these fields would be waste. */
    bad |= ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0));
    bad |= ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 0));
    bad |= ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_dictIDFlag, 0));
    sc->cctx_level = bad ? 0 : level;
    return bad ? ELVES_E_NOMEM : 0;
}

int es_zstd_frame(es_stream_ctx *sc, size_t *out, uint8_t *dst, size_t cap,
                  const uint8_t *src, size_t n, int level)
{
    size_t r;
    if (!sc->cctx) {
        sc->cctx = ZSTD_createCCtx();
        if (!sc->cctx)
            return ELVES_E_NOMEM;
    }
    if (load_params(sc, level) != 0)
        return ELVES_E_NOMEM;
    r = ZSTD_compress2(sc->cctx, dst, cap, src, n);
    if (ZSTD_isError(r)) {
        if (ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation)
            return ELVES_E_NOMEM;
        return ES_NOFIT; /* dstSize_tooSmall: it does not pay */
    }
    *out = r;
    return 0;
}

int es_zstd_unframe(es_stream_ctx *sc, uint8_t *dst, size_t n,
                    const uint8_t *src, size_t len)
{
    size_t r;
    if (!sc->dctx) {
        sc->dctx = ZSTD_createDCtx();
        if (!sc->dctx)
            return ELVES_E_NOMEM;
    }
    r = ZSTD_decompressDCtx(sc->dctx, dst, n, src, len);
    if (ZSTD_isError(r)) {
        if (ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation)
            return ELVES_E_NOMEM;
        return ELVES_E_CORRUPT;
    }
    return r == n ? 0 : ELVES_E_CORRUPT;
}

static int all_equal(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    size_t i;
    for (i = 1; i < n; i++)
        acc |= (uint8_t)(p[i] ^ p[0]);
    return acc == 0;
}

int es_bytes_put(uint8_t *dst, size_t cap, size_t *pos, const uint8_t *src,
                 size_t n)
{
    if (cap - *pos < n)
        return ES_NOFIT;
    if (n)
        memcpy(dst + *pos, src, n);
    *pos += n;
    return 0;
}

int es_bytes_get(uint8_t *dst, size_t n, const uint8_t *src, size_t len,
                 size_t *pos)
{
    if (*pos > len || len - *pos < n)
        return ELVES_E_CORRUPT;
    if (n)
        memcpy(dst, src + *pos, n);
    *pos += n;
    return 0;
}

int es_stream_put(es_stream_ctx *sc, uint8_t *dst, size_t cap, size_t *pos,
                  const uint8_t *src, size_t n, int level)
{
    size_t room = cap - *pos, clen = 0;
    int rc;
    if (room < 2)
        return ES_NOFIT;
    if (n > 0 && all_equal(src, n)) {
        dst[*pos] = ES_TAG_CONST;
        dst[*pos + 1] = src[0];
        *pos += 2;
        return 0;
    }
    /* Worth trying zstd only if it can beat raw by more than its 5-byte
     * header; its output is capped below the raw size. */
    if (n > 16 && room > 5) {
        size_t zcap = room - 5 < n - 4 ? room - 5 : n - 4;
        rc = es_zstd_frame(sc, &clen, dst + *pos + 5, zcap, src, n, level);
        if (rc < 0)
            return rc;
        if (rc == 0 && clen + 4 < n) {
            dst[*pos] = ES_TAG_ZSTD;
            es_store32(dst + *pos + 1, (uint32_t)clen);
            *pos += 5 + clen;
            return 0;
        }
    }
    if (room - 1 < n)
        return ES_NOFIT;
    dst[*pos] = ES_TAG_RAW;
    if (n)
        memcpy(dst + *pos + 1, src, n);
    *pos += 1 + n;
    return 0;
}

int es_stream_get(es_stream_ctx *sc, uint8_t *dst, size_t n, const uint8_t *src,
                  size_t len, size_t *pos)
{
    size_t clen;
    int rc;
    if (*pos >= len)
        return ELVES_E_CORRUPT;
    switch (src[(*pos)++]) {
    case ES_TAG_RAW:
        return es_bytes_get(dst, n, src, len, pos);
    case ES_TAG_CONST:
        if (*pos >= len)
            return ELVES_E_CORRUPT;
        if (n)
            memset(dst, src[*pos], n);
        *pos += 1;
        return 0;
    case ES_TAG_ZSTD:
        if (len - *pos < 4)
            return ELVES_E_CORRUPT;
        clen = es_load32(src + *pos);
        *pos += 4;
        if (clen > len - *pos)
            return ELVES_E_CORRUPT;
        rc = es_zstd_unframe(sc, dst, n, src + *pos, clen);
        *pos += clen;
        return rc;
    default:
        return ELVES_E_CORRUPT;
    }
}
