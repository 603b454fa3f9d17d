/*
 * bench_run.c - the measurements behind `elves bench`: zstd levels 3 and 19
 * and elves lossless/elf encode and decode on the same mapped bytes in the
 * same process, the order-0 bounds, and a checked round trip (bit-exact for
 * lossless, error bound for ELF) that is kept out of the timings.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "bench.h"

/* ---- growable memory sink for containers -------------------------------- */

typedef struct membuf {
    uint8_t *data;
    size_t len;
    size_t cap;
} membuf;

static int mem_write(void *ctx, const uint8_t *data, size_t len)
{
    membuf *m = ctx;
    if (len > m->cap - m->len) {
        size_t cap = m->cap ? m->cap : 1 << 20;
        while (len > cap - m->len)
            cap *= 2;
        uint8_t *p = realloc(m->data, cap);
        if (!p)
            return -1;
        m->data = p;
        m->cap = cap;
    }
    memcpy(m->data + m->len, data, len);
    m->len += len;
    return 0;
}

/* The encoded container's blocks, read where they lie. */
static cli_blocks mem_blocks(const membuf *m)
{
    return (cli_blocks){NULL, NULL, m->data, m->len, NULL};
}

/* Sizes the sink for a container of about `want` bytes and touches every
 * page of it, so no timed encode grows or faults it in. */
static int mem_reserve(membuf *m, size_t want)
{
    if (want > m->cap) {
        uint8_t *p = realloc(m->data, want);
        if (!p)
            return -1;
        m->data = p;
        m->cap = want;
    }
    memset(m->data, 0, m->cap);
    m->len = 0;
    return 0;
}

/* ---- the timing rule (bench.h) ------------------------------------------- */

/* One run of a measured operation: does the work, puts the seconds of the
 * timed part in *secs; 0, or non-zero with the error printed. */
typedef int (*run_fn)(void *ctx, double *secs);

/* One untimed warm-up run, then best of N (see bench.h). */
static int time_best(double *best, uint64_t bytes, run_fn run, void *ctx)
{
    double t = 0, total = 0;
    int min = bytes > BENCH_BIG ? BENCH_MIN_REPS_BIG : BENCH_MIN_REPS;
    int rc = run(ctx, &t);
    *best = 0;
    for (int i = 0; rc == 0 && i < BENCH_MAX_REPS &&
                    (i < min || total < BENCH_MIN_SECS);
         i++) {
        rc = run(ctx, &t);
        total += t;
        if (i == 0 || t < *best)
            *best = t;
    }
    return rc;
}

/* ---- zstd ---------------------------------------------------------------- */

static int zstd_fail(const char *path, int level, size_t code)
{
    return cli_fail(path, "zstd -%d: %s", level, ZSTD_getErrorName(code));
}

typedef struct zstd_run {
    const char *path;
    const uint8_t *src;
    size_t len;
    int level;
    uint8_t *enc;
    size_t cap;
    size_t n; /* compressed bytes */
    uint8_t *dec;
    size_t m; /* decompressed bytes */
} zstd_run;

static int zstd_enc_once(void *ctx, double *secs)
{
    zstd_run *z = ctx;
    double t0 = cli_now();
    z->n = ZSTD_compress(z->enc, z->cap, z->src, z->len, z->level);
    *secs = cli_now() - t0;
    return ZSTD_isError(z->n) ? zstd_fail(z->path, z->level, z->n) : 0;
}

static int zstd_dec_once(void *ctx, double *secs)
{
    zstd_run *z = ctx;
    double t0 = cli_now();
    z->m = ZSTD_decompress(z->dec, z->len, z->enc, z->n);
    *secs = cli_now() - t0;
    return ZSTD_isError(z->m) ? zstd_fail(z->path, z->level, z->m) : 0;
}

/* Compresses and decompresses src at `level` under the timing rule, into
 * preallocated, pre-touched buffers, and checks the round trip. */
static int bench_zstd_level(bench_zstd *z, const char *path, const uint8_t *src,
                            size_t len, int level)
{
    memset(z, 0, sizeof *z);
    z->in = len;
    if (len == 0)
        return 0;
    zstd_run r = {.path = path, .src = src, .len = len, .level = level};
    r.cap = ZSTD_compressBound(len);
    r.enc = malloc(r.cap);
    r.dec = malloc(len);
    int rc = 0;
    if (!r.enc || !r.dec) {
        rc = cli_fail(path, "out of memory");
        goto out;
    }
    memset(r.enc, 0, r.cap);
    memset(r.dec, 0, len);
    rc = time_best(&z->enc, len, zstd_enc_once, &r);
    if (rc == 0)
        rc = time_best(&z->dec, len, zstd_dec_once, &r);
    if (rc != 0)
        goto out;
    z->out = r.n;
    if (r.m != len || memcmp(r.dec, src, len) != 0)
        rc = cli_fail(path, "zstd -%d: round trip differs", level);
out:
    free(r.enc);
    free(r.dec);
    return rc;
}

/* ---- elves encode and decode -------------------------------------------- */

typedef struct elves_run {
    const char *path;
    const cli_map *m;
    const elves_encode_opts *eo;
    membuf *enc;
    elves_container **info; /* of the last encode */
    unsigned threads;       /* decode */
    cli_slicebuf *buf;
    const elves_base_src *base; /* decode of a delta-coded container */
} elves_run;

static int encode_once(void *ctx, double *secs)
{
    elves_run *r = ctx;
    elves_container_free(*r->info);
    *r->info = NULL;
    r->enc->len = 0;
    elves_error err = {0};
    double t0 = cli_now();
    int rc = elves_container_compress(r->info, r->m->data, r->m->len, r->eo,
                                      mem_write, r->enc, &err);
    *secs = cli_now() - t0;
    return rc == ELVES_OK ? 0 : cli_fail_lib(r->path, rc, &err);
}

/* Encodes the whole file under the timing rule into a sink preallocated
 * and pre-touched to the container's size; keeps the last container bytes
 * in *out and its index in *info. */
static int time_encode(double *best, membuf *out, elves_container **info,
                       const cli_map *m, const elves_encode_opts *eo,
                       const char *path)
{
    elves_run r = {.path = path, .m = m, .eo = eo, .enc = out, .info = info};
    double t = 0;
    /* First sized generously, then exactly by a first untimed encode. */
    if (mem_reserve(out, m->len + m->len / 8 + ((size_t)1 << 20)) != 0)
        return cli_fail(path, "out of memory");
    int rc = encode_once(&r, &t);
    if (rc == 0 && mem_reserve(out, out->len) != 0)
        rc = cli_fail(path, "out of memory");
    return rc == 0 ? time_best(best, m->len, encode_once, &r) : rc;
}

static int ignore_slice(void *ctx, uint64_t off, const uint8_t *d, size_t n)
{
    return 0;
}

static int decode_once(void *ctx, double *secs)
{
    elves_run *r = ctx;
    const elves_container *c = *r->info;
    elves_error err = {0};
    double t0 = cli_now();
    cli_blocks src = mem_blocks(r->enc);
    src.base = r->base;
    int rc = cli_decode_slices(c, 0, c->file_size - 1, &src, r->threads, r->buf,
                               ignore_slice, NULL, &err);
    *secs = cli_now() - t0;
    return rc == ELVES_OK ? 0 : cli_fail_lib(r->path, rc, &err);
}

/* Decodes the whole file from memory in slices under the timing rule (the
 * warm-up run sizes and touches the slice buffer). */
static int time_decode(double *best, elves_container **c, membuf *enc,
                       unsigned threads, cli_slicebuf *buf,
                       const elves_base_src *base, const char *path)
{
    *best = 0;
    if ((*c)->file_size == 0)
        return 0;
    elves_run r = {.path = path,
                   .enc = enc,
                   .info = c,
                   .threads = threads,
                   .buf = buf,
                   .base = base};
    return time_best(best, (*c)->file_size, decode_once, &r);
}

/* ---- codec only: elves_encode_segment over the unique units ------------- */

typedef struct codec_run {
    const char *path;
    const cli_map *m;
    const elves_container *c;
    const elves_encode_opts *eo;
    elves_unit *units; /* as the container coded them */
    size_t nunits;
    uint64_t out; /* encoded bytes of the last run */
} codec_run;

static int count_block(void *ctx, size_t index, uint64_t raw_offset,
                       uint32_t raw_len, const uint8_t *block, size_t block_len)
{
    (void)index, (void)raw_offset, (void)raw_len, (void)block;
    *(uint64_t *)ctx += block_len;
    return 0;
}

static int codec_once(void *ctx, double *secs)
{
    codec_run *r = ctx;
    int rc = ELVES_OK;
    elves_error err = {0};
    r->out = 0;
    double t0 = cli_now();
    for (size_t i = 0; i < r->nunits && rc == ELVES_OK; i++) {
        const elves_segment *s = &r->units[i].seg;
        if (r->c->segments[r->units[i].first].dedup_of >= 0)
            continue;
        rc = elves_encode_segment(NULL, r->m->data + s->offset, s->length, s,
                                  r->eo, count_block, &r->out, &err);
    }
    *secs = cli_now() - t0;
    return rc == ELVES_OK ? 0 : cli_fail_lib(r->path, rc, &err);
}

/* Single-thread encode of the units a container of file m encoded (its
 * index c): segmentation, units and dedup planned before the clock starts,
 * so what is timed is codec choice, block encoding and block checksums. */
static int time_codec(double *best, const cli_map *m, const elves_container *c,
                      const elves_encode_opts *eo, const char *path)
{
    codec_run r = {.path = path, .m = m, .c = c, .eo = eo};
    elves_segments *segs = NULL;
    elves_error err = {0};
    int rc = elves_segment_file(&segs, m->data, m->len, NULL);
    if (rc == ELVES_OK && segs->count != c->nsegments)
        rc = ELVES_E_INVALID; /* not the file the container was made of */
    if (rc == ELVES_OK)
        rc = elves_plan_units(&r.units, &r.nunits, segs, m->data, &err);
    if (rc != ELVES_OK) {
        elves_segments_free(segs);
        return cli_fail_lib(path, rc, &err);
    }
    rc = time_best(best, m->len, codec_once, &r);
    elves_units_free(r.units);
    elves_segments_free(segs);
    return rc;
}

/* ---- lossless with the SHA-256 given ------------------------------------ */

/* Times one-thread lossless encoding with the file's SHA-256 given (hashed
 * outside the timing), and checks the container is byte for byte the one
 * the encoder wrote when it hashed the file itself (in `like`). */
static int time_given_sha(double *best, const membuf *like, const cli_map *m,
                          const elves_encode_opts *eo, const char *path)
{
    uint8_t digest[32];
    elves_encode_opts given = *eo;
    elves_container *info = NULL;
    membuf out = {0};
    int rc = elves_sha256(digest, m->data, m->len) == ELVES_OK
                 ? 0
                 : cli_fail(path, "sha256 failed");
    given.sha256 = digest;
    if (rc == 0)
        rc = time_encode(best, &out, &info, m, &given, path);
    if (rc == 0 && (out.len != like->len ||
                    memcmp(out.data, like->data, out.len) != 0))
        rc = cli_fail(path, "container with the SHA-256 given differs");
    elves_container_free(info);
    free(out.data);
    return rc;
}

/* ---- round-trip check ---------------------------------------------------- */

typedef struct verify_state {
    const cli_map *orig;
    const elves_container *c;
    membuf *enc;
    size_t seg; /* current segment, advanced as slices come in order */
    int lossy;
    bench_file *r;
    const char *path;
    int failed; /* the error was printed */
} verify_state;

static int is_float_dtype(elves_dtype dt)
{
    return dt == ELVES_DT_F16 || dt == ELVES_DT_BF16 || dt == ELVES_DT_F32 ||
           dt == ELVES_DT_F64;
}

static int is_f32_tensor(const elves_segment *s)
{
    return s->kind == ELVES_SEG_TENSOR && s->dtype == ELVES_DT_F32;
}

/* ELF keeps |p| < 1 within 2^-24; everything else must come back exact. */
static void check_value(bench_file *r, const uint8_t *orig_b,
                        const uint8_t *dec_b)
{
    float o, d;
    memcpy(&o, orig_b, 4);
    memcpy(&d, dec_b, 4);
    r->f32_values++;
    if (memcmp(orig_b, dec_b, 4) == 0)
        return;
    double e = fabs((double)d - (double)o);
    if (!isfinite(o) || fabsf(o) >= 1.0f || !(e <= ldexp(1.0, -24)))
        r->f32_over_bound++;
    if (isfinite(e) && e > r->max_abs_err)
        r->max_abs_err = e;
}

/* An F32 value that starts in this slice but ends in the next one. */
static int check_straddling(verify_state *v, uint64_t off)
{
    uint8_t dec[4];
    elves_error err = {0};
    int rc =
        elves_decode_range_mem(dec, v->c->blocks, v->c->nblocks, off, off + 3,
                               v->enc->data, v->enc->len, NULL, 1, &err);
    if (rc != ELVES_OK) {
        v->failed = 1;
        return cli_fail_lib(v->path, rc, &err);
    }
    check_value(v->r, v->orig->data + off, dec);
    return 0;
}

/* Checks decoded bytes [from, to) that lie inside one F32 tensor `s`. */
static int check_f32(verify_state *v, const elves_segment *s, uint64_t from,
                     uint64_t to, const uint8_t *dec, uint64_t slice_off)
{
    uint64_t rel = (from - s->offset) % 4;
    uint64_t pos = rel ? from + (4 - rel) : from; /* first whole value */
    for (; pos + 4 <= to; pos += 4)
        check_value(v->r, v->orig->data + pos, dec + (pos - slice_off));
    if (pos < to && pos + 4 <= s->offset + s->length)
        return check_straddling(v, pos);
    return 0;
}

static int verify_slice(void *ctx, uint64_t off, const uint8_t *dec, size_t len)
{
    verify_state *v = ctx;
    uint64_t end = off + len;
    for (uint64_t pos = off; pos < end;) {
        while (v->seg < v->c->nsegments &&
               v->c->segments[v->seg].seg.offset +
                       v->c->segments[v->seg].seg.length <=
                   pos)
            v->seg++;
        if (v->seg == v->c->nsegments) {
            v->failed = 1;
            return cli_fail(v->path, "segments do not cover byte %llu",
                            (unsigned long long)pos);
        }
        const elves_segment *s = &v->c->segments[v->seg].seg;
        uint64_t stop =
            s->offset + s->length < end ? s->offset + s->length : end;
        if (v->lossy && is_f32_tensor(s)) {
            if (check_f32(v, s, pos, stop, dec, off) != 0)
                return -1;
        } else if (memcmp(v->orig->data + pos, dec + (pos - off),
                          (size_t)(stop - pos)) != 0) {
            v->failed = 1;
            return cli_fail(
                v->path, "%s round trip differs in bytes %llu..%llu",
                v->lossy ? "elf" : "lossless", (unsigned long long)pos,
                (unsigned long long)stop - 1);
        }
        pos = stop;
    }
    return 0;
}

static int verify(bench_file *r, const cli_map *m, const elves_container *c,
                  membuf *enc, unsigned threads, cli_slicebuf *buf,
                  const elves_base_src *base, const char *path)
{
    if (c->file_size != m->len)
        return cli_fail(path, "container says %llu bytes, the file has %zu",
                        (unsigned long long)c->file_size, m->len);
    if (m->len == 0)
        return 0;
    verify_state v = {.orig = m,
                      .c = c,
                      .enc = enc,
                      .r = r,
                      .path = path,
                      .lossy = c->mode == ELVES_MODE_ELF};
    elves_error err = {0};
    cli_blocks src = mem_blocks(enc);
    src.base = base;
    int rc = cli_decode_slices(c, 0, c->file_size - 1, &src, threads, buf,
                               verify_slice, &v, &err);
    if (rc == ELVES_E_CALLBACK && v.failed)
        return CLI_EXIT_FAIL;
    return rc == ELVES_OK ? 0 : cli_fail_lib(path, rc, &err);
}

/* ---- bounds ---------------------------------------------------------------
 */

/* The lossless bound and the float-tensor sums, from the lossless index. */
static void lossless_bounds(bench_file *r, const cli_map *m,
                            const elves_container *c)
{
    r->bound = (double)r->ll.stored;
    for (size_t i = 0; i < c->nsegments; i++) {
        const elves_container_segment *cs = &c->segments[i];
        const elves_segment *s = &cs->seg;
        if (s->kind != ELVES_SEG_TENSOR || !is_float_dtype(s->dtype) ||
            cs->dedup_of >= 0)
            continue;
        double b = elves_entropy_bound(m->data + s->offset, (size_t)s->length,
                                       s->dtype);
        r->bound += b - (double)cs->stored_bytes;
        r->float_raw += s->length;
        r->float_stored += cs->stored_bytes;
        r->float_bound += b;
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Bits of the optimal (unlimited-length) Huffman code of a 256-symbol
 * histogram, tables not counted: the sum of the weights of the merged
 * nodes, by the two-queue method over the sorted counts.  One symbol or
 * none: 0 (a constant stream). */
static double huffman_bits(const uint64_t hist[256])
{
    uint64_t leaf[256], node[256];
    size_t nl = 0, il = 0, in = 0, nn = 0;
    double bits = 0;

    for (int s = 0; s < 256; s++)
        if (hist[s])
            leaf[nl++] = hist[s];
    qsort(leaf, nl, sizeof leaf[0], cmp_u64);
    while ((nl - il) + (nn - in) > 1) {
        uint64_t pick[2];
        for (int k = 0; k < 2; k++)
            pick[k] = in == nn || (il < nl && leaf[il] <= node[in])
                          ? leaf[il++]
                          : node[in++];
        node[nn++] = pick[0] + pick[1];
        bits += (double)(pick[0] + pick[1]);
    }
    return bits;
}

/* The Huffman floor of one F32 tensor in ELF mode: counted as
 * elves_elf_entropy_bound counts, with each plane's entropy replaced by
 * the smaller of its optimal Huffman code and its raw bytes. */
static double elf_huffman_floor(const uint8_t *data, size_t len)
{
    uint64_t hist[3][256], outliers;
    double bytes = 0;

    elves_elf_plane_hist(hist, &outliers, data, len);
    for (int p = 0; p < 3; p++) {
        double raw = (double)(len / 4 - outliers);
        double huf = huffman_bits(hist[p]) / 8;
        bytes += huf < raw ? huf : raw;
    }
    return bytes + 8.0 * (double)outliers + (double)(len % 4);
}

/* The F32 sums, ELF plane bound and Huffman floor, from the elf index. */
static void elf_bounds(bench_file *r, const cli_map *m,
                       const elves_container *c)
{
    for (size_t i = 0; i < c->nsegments; i++) {
        const elves_container_segment *cs = &c->segments[i];
        const elves_segment *s = &cs->seg;
        if (!is_f32_tensor(s) || cs->dedup_of >= 0)
            continue;
        r->f32_raw += s->length;
        r->f32_stored += cs->stored_bytes;
        r->f32_plane_bound +=
            elves_elf_entropy_bound(m->data + s->offset, (size_t)s->length);
        r->f32_huffman_floor +=
            elf_huffman_floor(m->data + s->offset, (size_t)s->length);
    }
}

/* ---- one mode, one file ----------------------------------------------------
 */

static int bench_mode(bench_file *r, bench_elves *e, elves_mode mode,
                      const cli_map *m, const bench_opts *o)
{
    unsigned nthreads[2] = {1, o->threads};
    membuf enc = {0};
    cli_slicebuf buf = {0};
    elves_container *info = NULL;
    int rc = 0;
    for (int k = 0; k < 2 && rc == 0; k++) {
        elves_encode_opts eo = ELVES_ENCODE_OPTS_INIT;
        eo.mode = mode;
        eo.threads = nthreads[k];
        eo.block_size = o->block_size;
        rc = time_encode(&e->enc[k], &enc, &info, m, &eo, r->path);
        if (rc == 0)
            rc = time_decode(&e->dec[k], &info, &enc, nthreads[k], &buf, NULL,
                             r->path);
        if (rc == 0 && k == 0 && mode == ELVES_MODE_LOSSLESS)
            rc = time_codec(&r->ll_codec_enc, m, info, &eo, r->path);
        if (rc == 0 && k == 0 && mode == ELVES_MODE_LOSSLESS)
            rc = time_given_sha(&r->ll_given_enc, &enc, m, &eo, r->path);
    }
    if (rc == 0) {
        e->stored = enc.len;
        rc = verify(r, m, info, &enc, o->threads, &buf, NULL, r->path);
    }
    if (rc == 0 && mode == ELVES_MODE_LOSSLESS)
        lossless_bounds(r, m, info);
    if (rc == 0 && mode == ELVES_MODE_ELF)
        elf_bounds(r, m, info);
    elves_container_free(info);
    cli_slicebuf_free(&buf);
    free(enc.data);
    return rc;
}

int bench_run_file(bench_file *r, const char *path, const bench_opts *o)
{
    memset(r, 0, sizeof *r);
    r->path = path;
    cli_map m;
    if (cli_map_open(&m, path) != 0)
        return CLI_EXIT_FAIL;
    r->bytes = m.len;
    size_t z19_len = m.len > BENCH_Z19_MAX ? (size_t)BENCH_Z19_MAX : m.len;
    int rc = bench_zstd_level(&r->z3, path, m.data, m.len, 3);
    if (rc == 0)
        rc = bench_zstd_level(&r->z19, path, m.data, z19_len, 19);
    if (rc == 0)
        rc = bench_mode(r, &r->ll, ELVES_MODE_LOSSLESS, &m, o);
    if (rc == 0)
        rc = bench_mode(r, &r->elf, ELVES_MODE_ELF, &m, o);
    cli_map_close(&m);
    return rc;
}

static void add_zstd(bench_zstd *t, const bench_zstd *z)
{
    t->in += z->in;
    t->out += z->out;
    t->enc += z->enc;
    t->dec += z->dec;
}

static void add_elves(bench_elves *t, const bench_elves *e)
{
    t->stored += e->stored;
    for (int k = 0; k < 2; k++) {
        t->enc[k] += e->enc[k];
        t->dec[k] += e->dec[k];
    }
}

void bench_add(bench_file *t, const bench_file *f)
{
    t->bytes += f->bytes;
    add_zstd(&t->z3, &f->z3);
    add_zstd(&t->z19, &f->z19);
    add_elves(&t->ll, &f->ll);
    add_elves(&t->elf, &f->elf);
    t->ll_codec_enc += f->ll_codec_enc;
    t->ll_given_enc += f->ll_given_enc;
    t->bound += f->bound;
    t->float_raw += f->float_raw;
    t->float_stored += f->float_stored;
    t->float_bound += f->float_bound;
    t->f32_raw += f->f32_raw;
    t->f32_stored += f->f32_stored;
    t->f32_plane_bound += f->f32_plane_bound;
    t->f32_huffman_floor += f->f32_huffman_floor;
    t->f32_values += f->f32_values;
    t->f32_over_bound += f->f32_over_bound;
    if (f->max_abs_err > t->max_abs_err)
        t->max_abs_err = f->max_abs_err;
}

/* ---- delta coding against a base (elves bench --base) ------------------- */

/* zstd -19 --long=27 of src[0..len), the way `zstd -19 --long=27` runs. */
static int zstd_long19(uint64_t *out, const uint8_t *src, size_t len,
                       const char *path)
{
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    size_t cap = ZSTD_compressBound(len), n;
    uint8_t *dst = malloc(cap ? cap : 1);
    int rc = 0;

    if (!cc || !dst) {
        rc = cli_fail(path, "out of memory");
        goto out;
    }
    ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 19);
    ZSTD_CCtx_setParameter(cc, ZSTD_c_enableLongDistanceMatching, 1);
    ZSTD_CCtx_setParameter(cc, ZSTD_c_windowLog, 27);
    n = ZSTD_compress2(cc, dst, cap, src, len);
    if (ZSTD_isError(n))
        rc = zstd_fail(path, 19, n);
    else
        *out = n;
out:
    ZSTD_freeCCtx(cc);
    free(dst);
    return rc;
}

/* One container of m, timed (one thread) and checked bit-exact. */
static int delta_side(double *enc_s, double *dec_s, uint64_t *stored,
                      elves_container **info, const cli_map *m,
                      const elves_base_src *base, const bench_opts *o,
                      const char *path)
{
    elves_encode_opts eo = ELVES_ENCODE_OPTS_INIT;
    membuf enc = {0};
    cli_slicebuf buf = {0};
    int rc;

    eo.block_size = o->block_size;
    eo.base = base;
    rc = time_encode(enc_s, &enc, info, m, &eo, path);
    if (rc == 0)
        rc = time_decode(dec_s, info, &enc, 1, &buf, base, path);
    if (rc == 0) {
        bench_file scratch = {.path = path};
        *stored = enc.len;
        rc = verify(&scratch, m, *info, &enc, 1, &buf, base, path);
    }
    cli_slicebuf_free(&buf);
    free(enc.data);
    return rc;
}

/* The tensors coded against a base: raw, stored there and alone, and the
 * order-0 bound of their XOR planes. */
static int xor_bounds(bench_delta *r, const cli_map *m,
                      const elves_container *delta,
                      const elves_container *alone, const elves_base_src *base)
{
    uint8_t *b = NULL;
    size_t cap = 0;

    for (size_t i = 0; i < delta->nsegments; i++) {
        const elves_container_segment *cs = &delta->segments[i];
        size_t len = (size_t)cs->seg.length;
        if (!cs->has_base)
            continue;
        if (len > cap) {
            uint8_t *p = realloc(b, len);
            if (!p) {
                free(b);
                return cli_fail(r->path, "out of memory");
            }
            b = p;
            cap = len;
        }
        if (base->read(base->ctx, &cs->base, 0, (uint32_t)len, b) != 0) {
            free(b);
            return cli_fail(r->path, "base tensor vanished");
        }
        r->xor_raw += len;
        r->xor_stored += cs->stored_bytes;
        r->xor_alone += alone->segments[i].stored_bytes;
        r->xor_bound += elves_xor_entropy_bound(m->data + cs->seg.offset, b,
                                                len, cs->seg.dtype);
    }
    free(b);
    return 0;
}

int bench_run_delta(bench_delta *r, const char *path, const cli_base *base,
                    const bench_opts *o)
{
    elves_container *alone = NULL, *delta = NULL;
    uint8_t *both = NULL;
    cli_map m;
    int rc;

    memset(r, 0, sizeof *r);
    r->path = path;
    if (cli_map_open(&m, path) != 0)
        return CLI_EXIT_FAIL;
    r->bytes = m.len;
    rc = bench_zstd_level(&r->z3, path, m.data, m.len, 3);
    if (rc == 0)
        rc = delta_side(&r->enc_alone, &r->dec_alone, &r->alone, &alone, &m,
                        NULL, o, path);
    if (rc == 0 && !base) { /* the base itself: coded alone only */
        if (m.len <= BENCH_DELTA_Z19_MAX)
            rc = zstd_long19(&r->z19_long, m.data, m.len, path);
        goto out;
    }
    if (rc == 0)
        rc = delta_side(&r->enc_delta, &r->dec_delta, &r->delta, &delta, &m,
                        &base->src, o, path);
    if (rc == 0) {
        r->ndelta = delta->ndelta;
        rc = xor_bounds(r, &m, delta, alone, &base->src);
    }
    /* zstd's best with the base in its window: what base + member costs
     * beyond the base alone. */
    if (rc == 0 && base->len + m.len <= BENCH_DELTA_Z19_MAX) {
        uint64_t with = 0;
        both = malloc(base->len + m.len + 1);
        if (!both)
            rc = cli_fail(path, "out of memory");
        if (rc == 0) {
            memcpy(both, base->data, base->len);
            memcpy(both + base->len, m.data, m.len);
            rc = zstd_long19(&with, both, base->len + m.len, path);
        }
        if (rc == 0 && !base->z19_long)
            rc = zstd_long19(&((cli_base *)base)->z19_long, base->data,
                             base->len, base->path);
        if (rc == 0)
            r->z19_long = with > base->z19_long ? with - base->z19_long : 0;
    }
out:
    free(both);
    elves_container_free(alone);
    elves_container_free(delta);
    cli_map_close(&m);
    return rc;
}

void bench_delta_add(bench_delta *t, const bench_delta *d)
{
    t->bytes += d->bytes;
    t->alone += d->alone;
    t->delta += d->delta ? d->delta : d->alone; /* the base is stored alone */
    t->ndelta += d->ndelta;
    t->xor_raw += d->xor_raw;
    t->xor_stored += d->xor_stored;
    t->xor_alone += d->xor_alone;
    t->xor_bound += d->xor_bound;
    t->z19_long += d->z19_long;
    t->enc_alone += d->enc_alone;
    t->enc_delta += d->enc_delta;
    t->dec_alone += d->dec_alone;
    t->dec_delta += d->dec_delta;
    add_zstd(&t->z3, &d->z3);
}
