/*
 * codec_float.c - lossless float coding (stub: falls back until written).
 */
#include "codecs.h"
#include "internal.h"

int es_float_encode(es_stream_ctx *sc, size_t *out, uint8_t *dst, size_t cap,
                    const uint8_t *src, size_t n, elves_dtype dt)
{
    return ES_NOFIT;
}

int es_float_decode(es_stream_ctx *sc, uint8_t *dst, size_t n,
                    const uint8_t *src, size_t len, elves_dtype dt)
{
    return ELVES_E_CORRUPT;
}
