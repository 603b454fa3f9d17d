/*
 * internal.h - helpers shared by libelves' own files; not part of the API.
 */
#ifndef ELVES_INTERNAL_H
#define ELVES_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "elves.h"

/* XXH3 through the library's runtime dispatch (AVX2/AVX-512 where the CPU
 * has them) in every file that includes this one after <xxhash.h>: same
 * hashes, 4x the speed of the SSE2 default on 1 MiB (73 vs 17 GB/s here).
 * Block checksums, tensor fingerprints and the index hash are computed
 * once or twice per byte encoded and once per byte decoded. */
#if defined(__x86_64__) && defined(__has_include)
#if __has_include(<xxh_x86dispatch.h>)
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t for the _update forms */
#include <xxh_x86dispatch.h>
#endif
#endif

/* Sets err (if not NULL) to code and a printf-formatted message; returns
 * code so callers can write `return es_fail(err, ELVES_E_FORMAT, ...)`. */
int es_fail(elves_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Little-endian loads and stores on unaligned bytes. */
static inline uint16_t es_load16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t es_load32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v; /* the library targets little-endian hosts (checked in dtype.c) */
}
static inline uint64_t es_load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}
static inline void es_store16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2);
}
static inline void es_store32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}
static inline void es_store64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

/* a * b into *out; returns 0 on overflow, 1 otherwise. */
/* log2(x) for x >= 1 to about 1.5e-3: exponent bits plus a cubic fit on
 * the mantissa; libm's log2 costs more than the rest of the entropy
 * estimates it serves on short streams. */
static inline float es_fast_log2(float x)
{
    uint32_t b;
    float m, e;
    memcpy(&b, &x, 4);
    e = (float)((int)(b >> 23) - 127);
    b = (b & 0x7fffffu) | 0x3f800000u;
    memcpy(&m, &b, 4);
    return e + ((0.15392465f * m - 1.02955839f) * m + 3.01085099f) * m -
           2.13388663f;
}

static inline int es_mul_ok(uint64_t a, uint64_t b, uint64_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

/* Tensors of a segmented file found again by content: open addressing on
 * each fingerprint's first 8 bytes.  Used for dedup inside a container and
 * by the unit planner, which keeps repeated tensors out of units. */
typedef struct es_fp_table {
    size_t mask;
    size_t *slot;    /* segment index + 1, 0 = empty */
    elves_fp128 *fp; /* per segment, once added */
} es_fp_table;

int es_fp_table_init(es_fp_table *t, size_t nseg);
void es_fp_table_free(es_fp_table *t);
/* Fingerprints TENSOR segment i of segs (data = the whole file) and
 * returns the earlier added segment holding the same tensor (same
 * fingerprint and, to be safe from collisions, the same bytes), or records
 * i and returns SIZE_MAX. */
size_t es_fp_table_find_or_add(es_fp_table *t, const elves_segments *segs,
                               const uint8_t *data, size_t i);

/* elves_parse_safetensors; fast = 0 parses with jansson only, so the fuzzer
 * can check that the fast path gives exactly jansson's result. */
int es_parse_safetensors(elves_segments **out, const uint8_t *data, size_t len,
                         int fast, elves_error *err);

#endif /* ELVES_INTERNAL_H */
