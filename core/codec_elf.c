/*
 * codec_elf.c - ELF exponent-less F32 (stub: falls back until written).
 */
#include "codecs.h"
#include "internal.h"

int es_elf_encode(es_stream_ctx *sc, size_t *out, uint8_t *dst, size_t cap,
                  uint8_t *decoded, const uint8_t *src, size_t n)
{
    return ES_NOFIT;
}

int es_elf_decode(es_stream_ctx *sc, uint8_t *dst, size_t n, const uint8_t *src,
                  size_t len)
{
    return ELVES_E_CORRUPT;
}
