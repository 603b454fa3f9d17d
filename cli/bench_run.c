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

static int mem_fetch(void *ctx, const elves_block_ref *ref, uint8_t *buf)
{
    const membuf *m = ctx;
    if (ref->loc > m->len || ref->enc_len > m->len - ref->loc)
        return -1;
    memcpy(buf, m->data + ref->loc, ref->enc_len);
    return 0;
}

static int reps_for(uint64_t bytes)
{
    return bytes < BENCH_REPS_MAX ? BENCH_REPS : 1;
}

/* ---- zstd ---------------------------------------------------------------- */

static int zstd_fail(const char *path, int level, size_t code)
{
    return cli_fail(path, "zstd -%d: %s", level, ZSTD_getErrorName(code));
}

/* Compresses and decompresses src at `level`, best of `reps`, and checks
 * the round trip. */
static int bench_zstd_level(bench_zstd *z, const char *path, const uint8_t *src,
                            size_t len, int level, int reps)
{
    memset(z, 0, sizeof *z);
    z->in = len;
    if (len == 0)
        return 0;
    size_t cap = ZSTD_compressBound(len);
    uint8_t *enc = malloc(cap);
    uint8_t *dec = malloc(len);
    int rc = 0;
    if (!enc || !dec) {
        rc = cli_fail(path, "out of memory");
        goto out;
    }
    size_t n = 0, m = 0;
    for (int i = 0; i < reps; i++) {
        double t0 = cli_now();
        n = ZSTD_compress(enc, cap, src, len, level);
        double t = cli_now() - t0;
        if (ZSTD_isError(n)) {
            rc = zstd_fail(path, level, n);
            goto out;
        }
        if (i == 0 || t < z->enc)
            z->enc = t;
    }
    z->out = n;
    for (int i = 0; i < reps; i++) {
        double t0 = cli_now();
        m = ZSTD_decompress(dec, len, enc, n);
        double t = cli_now() - t0;
        if (ZSTD_isError(m)) {
            rc = zstd_fail(path, level, m);
            goto out;
        }
        if (i == 0 || t < z->dec)
            z->dec = t;
    }
    if (m != len || memcmp(dec, src, len) != 0)
        rc = cli_fail(path, "zstd -%d: round trip differs", level);
out:
    free(enc);
    free(dec);
    return rc;
}

/* ---- elves encode and decode -------------------------------------------- */

/* Encodes the whole file `reps` times; keeps the best time, the last
 * container bytes in *out and its index in *info. */
static int time_encode(double *best, membuf *out, elves_container **info,
                       const cli_map *m, const elves_encode_opts *eo, int reps,
                       const char *path)
{
    for (int i = 0; i < reps; i++) {
        elves_container_free(*info);
        *info = NULL;
        out->len = 0;
        elves_error err = {0};
        double t0 = cli_now();
        int rc = elves_container_compress(info, m->data, m->len, eo, mem_write,
                                          out, &err);
        double t = cli_now() - t0;
        if (rc != ELVES_OK)
            return cli_fail_lib(path, rc, &err);
        if (i == 0 || t < *best)
            *best = t;
    }
    return 0;
}

static int ignore_slice(void *ctx, uint64_t off, const uint8_t *d, size_t n)
{
    return 0;
}

/* Decodes the whole file from memory in slices, best of `reps`. */
static int time_decode(double *best, const elves_container *c, membuf *enc,
                       unsigned threads, int reps, cli_slicebuf *buf,
                       const char *path)
{
    *best = 0;
    if (c->file_size == 0)
        return 0;
    for (int i = 0; i < reps; i++) {
        elves_error err = {0};
        double t0 = cli_now();
        int rc = cli_decode_slices(c, 0, c->file_size - 1, mem_fetch, enc,
                                   threads, buf, ignore_slice, NULL, &err);
        double t = cli_now() - t0;
        if (rc != ELVES_OK)
            return cli_fail_lib(path, rc, &err);
        if (i == 0 || t < *best)
            *best = t;
    }
    return 0;
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
    int rc = elves_decode_range(dec, v->c->blocks, v->c->nblocks, off, off + 3,
                                mem_fetch, v->enc, 1, &err);
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
                  const char *path)
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
    int rc = cli_decode_slices(c, 0, c->file_size - 1, mem_fetch, enc, threads,
                               buf, verify_slice, &v, &err);
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

/* The F32 sums and ELF plane bound, from the elf index. */
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
    }
}

/* ---- one mode, one file ----------------------------------------------------
 */

static int bench_mode(bench_file *r, bench_elves *e, elves_mode mode,
                      const cli_map *m, const bench_opts *o)
{
    int reps = reps_for(m->len);
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
        rc = time_encode(&e->enc[k], &enc, &info, m, &eo, reps, r->path);
        if (rc == 0)
            rc = time_decode(&e->dec[k], info, &enc, nthreads[k], reps, &buf,
                             r->path);
    }
    if (rc == 0) {
        e->stored = enc.len;
        rc = verify(r, m, info, &enc, o->threads, &buf, r->path);
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
    int reps = reps_for(m.len);
    size_t z19_len = m.len > BENCH_Z19_MAX ? (size_t)BENCH_Z19_MAX : m.len;
    int rc = bench_zstd_level(&r->z3, path, m.data, m.len, 3, reps);
    if (rc == 0)
        rc = bench_zstd_level(&r->z19, path, m.data, z19_len, 19,
                              reps_for(z19_len));
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
    t->bound += f->bound;
    t->float_raw += f->float_raw;
    t->float_stored += f->float_stored;
    t->float_bound += f->float_bound;
    t->f32_raw += f->f32_raw;
    t->f32_stored += f->f32_stored;
    t->f32_plane_bound += f->f32_plane_bound;
    t->f32_values += f->f32_values;
    t->f32_over_bound += f->f32_over_bound;
    if (f->max_abs_err > t->max_abs_err)
        t->max_abs_err = f->max_abs_err;
}
