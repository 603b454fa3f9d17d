/*
 * bench.h - what `elves bench` measures for one file, shared by the
 * measuring code (bench_run.c) and the reporting code (cmd_bench.c).
 */
#ifndef ELVES_CLI_BENCH_H
#define ELVES_CLI_BENCH_H

#include <stdint.h>

#include "cli.h"

/* zstd level 19 is slow: files over this are measured on a prefix. */
#define BENCH_Z19_MAX ((uint64_t)64 << 20)
/* Timing rule, the same for every measured side (zstd and elves, encode and
 * decode): output buffers preallocated and pre-touched, one untimed warm-up
 * run, then the best of at least BENCH_MIN_REPS timed runs (BENCH_MIN_REPS_BIG
 * for files over BENCH_BIG), more until the timed runs add up to
 * BENCH_MIN_SECS, at most BENCH_MAX_REPS. */
#define BENCH_BIG ((uint64_t)64 << 20)
#define BENCH_MIN_REPS 3
#define BENCH_MIN_REPS_BIG 2
#define BENCH_MAX_REPS 20
#define BENCH_MIN_SECS 0.3

/* One zstd level on the same bytes (one shot, one thread). */
typedef struct bench_zstd {
    uint64_t in;  /* bytes compressed: the file, or its first 64 MiB */
    uint64_t out; /* compressed bytes */
    double enc;   /* best seconds */
    double dec;
} bench_zstd;

/* One elves mode: [0] one thread, [1] N threads. */
typedef struct bench_elves {
    uint64_t stored; /* container bytes */
    double enc[2];
    double dec[2];
} bench_elves;

typedef struct bench_file {
    const char *path;
    uint64_t bytes;
    bench_zstd z3, z19;
    bench_elves ll, elf;
    /* Lossless, one thread, codec only: elves_encode_segment over the unique
     * segments (no parse, dedup hashing, SHA-256, index or container). */
    double ll_codec_enc;
    /* Lossless container, one thread, with the file's SHA-256 given
     * (elves_encode_opts.sha256): all of ll.enc[0] but hashing the input. */
    double ll_given_enc;
    /* Lossless container size with each unique float tensor's stored bytes
     * replaced by its order-0 bound (elves_entropy_bound). */
    double bound;
    /* Unique float tensors (F16/BF16/F32/F64): raw, stored lossless, bound. */
    uint64_t float_raw;
    uint64_t float_stored;
    double float_bound;
    /* Unique F32 tensors in elf mode: raw, stored, ELF plane bound, and the
     * Huffman floor: each plane of each tensor in its optimal Huffman code
     * with no table, or raw when that is smaller. */
    uint64_t f32_raw;
    uint64_t f32_stored;
    double f32_plane_bound;
    double f32_huffman_floor;
    /* Every F32 value decoded from the elf container vs the original. */
    uint64_t f32_values;
    uint64_t f32_over_bound;
    double max_abs_err;
} bench_file;

typedef struct bench_opts {
    unsigned threads; /* N: the "all threads" run */
    uint32_t block_size;
} bench_opts;

/* Measures one file into *r; prints the error and returns non-zero on
 * failure (including a lossless round trip that is not bit-exact). */
int bench_run_file(bench_file *r, const char *path, const bench_opts *o);

/* Adds f's bytes and times into the running total t. */
void bench_add(bench_file *t, const bench_file *f);

/* elves bench --base: zstd -19 --long=27 of base + member is only run when
 * the two together are at most this (it runs at about 2 MB/s). */
#define BENCH_DELTA_Z19_MAX ((uint64_t)256 << 20)

/* One member of a family against its base (lossless, one thread). */
typedef struct bench_delta {
    const char *path;
    uint64_t bytes;
    uint64_t alone;  /* container coded alone */
    uint64_t delta;  /* container coded against the base */
    size_t ndelta;   /* tensors coded against a base tensor */
    uint64_t xor_raw;    /* their bytes */
    uint64_t xor_stored; /* their stored bytes, delta-coded */
    uint64_t xor_alone;  /* their stored bytes, alone */
    double xor_bound;    /* order-0 bound of their XOR byte planes */
    uint64_t z19_long;   /* zstd -19 --long=27 of base + member, minus that
                            of the base: 0 when not run */
    double enc_alone, enc_delta, dec_alone, dec_delta; /* best seconds */
    bench_zstd z3;
} bench_delta;

/* Measures member `path` against base; prints and returns non-zero on
 * failure (including a round trip that is not bit-exact).  Fills
 * base->z19_long on first use.  base NULL: the base itself, coded alone
 * (z19_long is then that of the file alone). */
int bench_run_delta(bench_delta *r, const char *path, const cli_base *base,
                    const bench_opts *o);
/* Adds d into the family total t (a member with no delta container, the
 * base, counts as stored alone). */
void bench_delta_add(bench_delta *t, const bench_delta *d);

#endif /* ELVES_CLI_BENCH_H */
