/*
 * codec_zstd.c - the general-purpose codec: one zstd frame of the block's
 * bytes, for integers, opaque data and headers.
 */
#include "codecs.h"
#include "internal.h"

/* Level by block size: small blocks (headers, small tensors) are cheap to
 * squeeze harder; large ones use zstd's default speed/ratio balance. */
static int zstd_level_for(size_t n)
{
    return n < ((size_t)64 << 10) ? 9 : 3;
}

int es_zstd_encode(es_stream_ctx *sc, size_t *out, uint8_t *dst, size_t cap,
                   const uint8_t *src, size_t n)
{
    return es_zstd_frame(sc, out, dst, cap, src, n, zstd_level_for(n));
}

int es_zstd_decode(es_stream_ctx *sc, uint8_t *dst, size_t n,
                   const uint8_t *src, size_t len)
{
    return es_zstd_unframe(sc, dst, n, src, len);
}
