/*
 * codecs.h - internal interface between the block layer (block.c), the
 * codec chooser (choose.c) and the codecs (codec_*.c).
 *
 * Every codec encodes a whole block's bytes into a payload and back.
 * Encoders write into dst[0..cap) where cap is one less than the raw size
 * (a payload is only worth storing if it is smaller than RAW) and return
 *   0          the payload length is in *out,
 *   ES_NOFIT   the codec does not apply to this data or does not pay,
 *   < 0        an elves_status (NOMEM, BOUND).
 * Decoders get the exact decoded size n from the block header and return 0,
 * ELVES_E_CORRUPT (any inconsistency in the payload) or ELVES_E_NOMEM; they
 * never read past src[len) nor write past dst[n).
 */
#ifndef ELVES_CODECS_H
#define ELVES_CODECS_H

#include "elves.h"
#include "stream.h"

/* Hot loops that mix element widths (bytes, u32, float) are vectorised by
 * gcc only with its "cheap" cost model; -O2 uses "very cheap". */
#if defined(__GNUC__) && !defined(__clang__)
#define ES_VECTORIZE __attribute__((optimize("vect-cost-model=cheap")))
#else
#define ES_VECTORIZE
#endif

/* Plane split and merge loops get an AVX2 clone beside the baseline one,
 * picked at load time by the CPU (an ifunc).  The baseline x86-64 build only
 * has SSE2; on a 256 MB BF16 checkpoint the AVX2 merge took one-thread
 * decoding from 2510-2690 to 2880 MB/s (elves bench, same run). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) &&         \
    !defined(ES_NO_CLONES)
#define ES_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define ES_CLONES
#endif

/* 1 for F16, BF16, F32, F64: the dtypes the FLOAT codec handles. */
int es_float_dtype(elves_dtype dt);
/* Element size in bytes the DICT codec uses as its unit (1, 2, 4 or 8). */
unsigned es_dict_unit(elves_dtype dt);

int es_zstd_encode(es_stream_ctx *sc, size_t *out, uint8_t *dst, size_t cap,
                   const uint8_t *src, size_t n);
int es_zstd_decode(es_stream_ctx *sc, uint8_t *dst, size_t n,
                   const uint8_t *src, size_t len);

int es_float_encode(es_stream_ctx *sc, size_t *out, uint8_t *dst, size_t cap,
                    const uint8_t *src, size_t n, elves_dtype dt);
int es_float_decode(es_stream_ctx *sc, uint8_t *dst, size_t n,
                    const uint8_t *src, size_t len, elves_dtype dt);

/* The FLOAT codec's planes (element size of them, n elements each):
 * exponent first, see codec_float.c. */
void es_float_split(uint8_t *const *p, const uint8_t *src, size_t n,
                    elves_dtype dt);
void es_float_merge(uint8_t *dst, const uint8_t *const *p, size_t n,
                    elves_dtype dt);

/* The delta codec's payload after the base reference (codec_delta.c): src
 * against base, coded in planes.  The decoder is given the base bytes in
 * dst and applies the decoded planes to them. */
int es_delta_encode(es_stream_ctx *sc, size_t *out, uint8_t *dst, size_t cap,
                  const uint8_t *src, const uint8_t *base, size_t n,
                  elves_dtype dt);
int es_delta_decode(es_stream_ctx *sc, uint8_t *dst, size_t n,
                  const uint8_t *src, size_t len, elves_dtype dt);
/* Planes the delta codec splits a dtype into (1, 2, 4 or 8). */
unsigned es_delta_planes(elves_dtype dt);

/* ELF also writes what the decoder will return into decoded[0..n), so the
 * block checksum covers the lossy result; ELVES_E_BOUND if any value would
 * be off by more than 2^-24. */
int es_elf_encode(es_stream_ctx *sc, size_t *out, uint8_t *dst, size_t cap,
                  uint8_t *decoded, const uint8_t *src, size_t n);
int es_elf_decode(es_stream_ctx *sc, uint8_t *dst, size_t n, const uint8_t *src,
                  size_t len);

int es_dict_encode(es_stream_ctx *sc, size_t *out, uint8_t *dst, size_t cap,
                   const uint8_t *src, size_t n, elves_dtype dt);
int es_dict_decode(es_stream_ctx *sc, uint8_t *dst, size_t n,
                   const uint8_t *src, size_t len, elves_dtype dt);

/* The calling thread's kept context (see block.c), or NULL when it cannot
 * be had (then use a local one).  Callers trim it when done. */
es_stream_ctx *es_thread_ctx(void);

/* One codec, no fallback: the payload in dst[0..cap), or ES_NOFIT when
 * the codec does not apply to dt or does not fit.  lossy_out (n bytes)
 * receives ELF's decoded values; ELF does not apply when it is NULL. */
int es_codec_encode(es_stream_ctx *sc, elves_codec c, size_t *out, uint8_t *dst,
                    size_t cap, uint8_t *lossy_out, const uint8_t *src,
                    size_t n, elves_dtype dt);

/* elves_block_encode with caller-owned zstd contexts (reused across calls
 * by the chooser and by anyone encoding many blocks on one thread). */
int es_block_encode_ctx(es_stream_ctx *sc, size_t *out, uint8_t *dst,
                        size_t dst_cap, const uint8_t *src, size_t raw_len,
                        elves_dtype dt, elves_codec codec, elves_error *err);
/* elves_block_encode_delta with caller-owned contexts; d == NULL is
 * es_block_encode_ctx. */
int es_block_encode_delta_ctx(es_stream_ctx *sc, size_t *out, uint8_t *dst,
                              size_t dst_cap, const uint8_t *src,
                              size_t raw_len, elves_dtype dt,
                              elves_codec codec, const elves_delta *d,
                              elves_error *err);
int es_block_decode_ctx(es_stream_ctx *sc, size_t *out, uint8_t *dst,
                        size_t dst_cap, const uint8_t *block, size_t len,
                        const elves_base_src *base, elves_error *err);

#endif /* ELVES_CODECS_H */
