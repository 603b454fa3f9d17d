/*
 * bench_codecs.c - the codec measuring tool: for each input (a checkpoint
 * file, segmented with elves_segment_file, or synthetic weights generated
 * in-process) prints ratio and single-thread encode/decode MB/s of every
 * elves codec next to libzstd levels 3 and 19 on the same bytes in the same
 * process, and the order-0 entropy bounds.  One table per input, then one
 * JSON line per row.
 *
 *   bench_codecs [--block N] [--min-time S] [--rounds R] [--no-zstd19]
 *                [--json] [--only ROW] [--dtype DT] FILE...
 *                [--synthetic DT:MB[:SCALE]]
 *
 * --dtype treats each FILE as one tensor of that dtype instead of parsing.
 * Timing: every row runs once per round, rounds repeat for at least R
 * rounds and S seconds, and the best round counts (zstd -19 runs once).
 * Identical tensors are counted once, as the container stores them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

#include "elves.h"

typedef struct part {
    const uint8_t *p;
    size_t len;
    elves_dtype dt; /* OPAQUE for headers, gaps and opaque data */
    int dup_of;     /* index of an identical earlier tensor, or -1 */
} part;

typedef struct input {
    char name[128];
    uint8_t *data;
    size_t len;
    part *parts;
    size_t nparts;
} input;

typedef struct result {
    const char *scheme;
    size_t in_bytes, out_bytes;
    double enc_s, dec_s, bound;
    unsigned used[ELVES_CODEC_COUNT]; /* blocks per codec actually written */
    int ok;
} result;

static uint32_t opt_block = ELVES_DEFAULT_BLOCK_SIZE;
static double opt_min_time = 1.0;
static int opt_rounds = 3;
static int opt_zstd19 = 1;
static const char *opt_only; /* run only the row of this name */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "bench_codecs: out of memory\n");
        exit(2);
    }
    return p;
}

/* ---- inputs -----------------------------------------------------------------
 */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static double gauss(void)
{
    double u = ((rng() >> 11) + 1.0) * 0x1p-53, v = (rng() >> 11) * 0x1p-53;
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

static uint16_t f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    return (uint16_t)((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

/* Round-to-nearest-even float -> IEEE half (weights are far from the
 * overflow range; NaN/Inf are not generated). */
static uint16_t f32_to_f16(float f)
{
    uint32_t x, sign, mag;
    memcpy(&x, &f, 4);
    sign = (x >> 16) & 0x8000u;
    mag = x & 0x7fffffffu;
    if (mag >= 0x477ff000u) /* rounds to >= 65520: infinity */
        return (uint16_t)(sign | 0x7c00u);
    if (mag < 0x38800000u) { /* half denormal (or zero) */
        float a;
        memcpy(&a, &mag, 4);
        return (uint16_t)(sign | (uint32_t)lrintf(a * 0x1p24f));
    }
    mag += 0x0fffu + ((mag >> 13) & 1); /* round the 13 dropped bits */
    return (uint16_t)(sign | ((mag - 0x38000000u) >> 13));
}

static void gen_synthetic(input *in, const char *spec)
{
    char dtn[16] = {0};
    double mb = 256, scale = 0.02;
    elves_dtype dt;
    size_t esz, n;
    if (sscanf(spec, "%15[^:]:%lf:%lf", dtn, &mb, &scale) < 1) {
        fprintf(stderr, "bad --synthetic %s\n", spec);
        exit(2);
    }
    dt = elves_dtype_from_name(dtn);
    esz = elves_dtype_bits(dt) / 8;
    if (dt != ELVES_DT_F32 && dt != ELVES_DT_BF16 && dt != ELVES_DT_F16) {
        fprintf(stderr, "--synthetic supports F32, BF16, F16\n");
        exit(2);
    }
    n = (size_t)(mb * 1e6) / esz;
    in->len = n * esz;
    in->data = xmalloc(in->len);
    for (size_t i = 0; i < n; i++) {
        float f = (float)(gauss() * scale);
        uint16_t h;
        if (dt == ELVES_DT_F32)
            memcpy(in->data + 4 * i, &f, 4);
        else {
            h = dt == ELVES_DT_BF16 ? f32_to_bf16(f) : f32_to_f16(f);
            memcpy(in->data + 2 * i, &h, 2);
        }
    }
    snprintf(in->name, sizeof in->name, "synthetic-%s-%gMB-s%g", dtn, mb,
             scale);
    in->parts = xmalloc(sizeof *in->parts);
    in->parts[0] = (part){in->data, in->len, dt, -1};
    in->nparts = 1;
}

static int read_file(input *in, const char *path)
{
    FILE *f = fopen(path, "rb");
    long sz;
    const char *base = strrchr(path, '/');
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    in->len = (size_t)sz;
    in->data = xmalloc(in->len);
    if (fread(in->data, 1, in->len, f) != in->len) {
        fclose(f);
        return -1;
    }
    fclose(f);
    snprintf(in->name, sizeof in->name, "%s", base ? base + 1 : path);
    return 0;
}

/* Marks tensors whose dtype and bytes equal an earlier one's: the container
 * stores those once (fingerprint dedup), so the bench counts them once. */
static void mark_duplicates(input *in)
{
    for (size_t i = 0; i < in->nparts; i++) {
        part *a = &in->parts[i];
        a->dup_of = -1;
        for (size_t j = 0; j < i && a->dt != ELVES_DT_OPAQUE; j++) {
            part *b = &in->parts[j];
            if (b->dup_of < 0 && b->dt == a->dt && b->len == a->len &&
                memcmp(a->p, b->p, a->len) == 0) {
                a->dup_of = (int)j;
                break;
            }
        }
    }
}

static void segment_input(input *in, elves_dtype forced)
{
    elves_segments *segs = NULL;
    if (forced != ELVES_DT_OPAQUE ||
        elves_segment_file(&segs, in->data, in->len, NULL) != 0) {
        in->parts = xmalloc(sizeof *in->parts);
        in->parts[0] = (part){in->data, in->len, forced, -1};
        in->nparts = 1;
        return;
    }
    in->parts = xmalloc(segs->count * sizeof *in->parts);
    in->nparts = 0;
    for (size_t i = 0; i < segs->count; i++) {
        const elves_segment *s = &segs->items[i];
        elves_dtype dt =
            s->kind == ELVES_SEG_TENSOR ? s->dtype : ELVES_DT_OPAQUE;
        if (s->length)
            in->parts[in->nparts++] =
                (part){in->data + s->offset, s->length, dt, -1};
    }
    elves_segments_free(segs);
    mark_duplicates(in);
}

/* ---- elves schemes
 * ------------------------------------------------------------ */

/* A scheme codes each tensor part with `codec` (or the chooser's pick when
 * codec < 0, in `mode`), and everything else with ZSTD. */
typedef struct scheme {
    const char *name;
    int codec;
    elves_mode mode;
    elves_dtype only; /* OPAQUE: all parts; else only parts of this dtype */
} scheme;

typedef struct encoded {
    uint8_t *buf;
    size_t *off, *raw_off, nblocks, size, cap;
} encoded;

static int part_selected(const part *pt, const scheme *s)
{
    return s->only == ELVES_DT_OPAQUE || pt->dt == s->only;
}

static elves_codec part_codec(const part *pt, const scheme *s)
{
    elves_codec c = ELVES_CODEC_ZSTD;
    if (pt->dt == ELVES_DT_OPAQUE)
        return ELVES_CODEC_ZSTD;
    if (s->codec >= 0)
        return (elves_codec)s->codec;
    if (elves_choose_codec(&c, pt->p, pt->len, pt->dt, s->mode) != 0)
        c = ELVES_CODEC_ZSTD;
    return c;
}

static void encoded_alloc(encoded *e, const input *in)
{
    size_t cap = 0, nb = in->len / opt_block + in->nparts + 1;
    for (size_t i = 0; i < in->nparts; i++)
        cap +=
            elves_block_bound(opt_block) * (in->parts[i].len / opt_block + 1);
    e->cap = cap;
    e->buf = xmalloc(cap);
    memset(e->buf, 0, cap); /* fault the pages in before timing */
    e->off = xmalloc(nb * sizeof(size_t));
    e->raw_off = xmalloc(nb * sizeof(size_t));
}

static int encode_all(encoded *e, const input *in, const scheme *s, result *r)
{
    size_t nb = 0, cap = e->cap;
    e->size = 0;
    for (size_t i = 0; i < in->nparts; i++) {
        const part *pt = &in->parts[i];
        elves_codec c;
        if (!part_selected(pt, s) || pt->dup_of >= 0)
            continue;
        c = part_codec(pt, s);
        for (size_t o = 0; o < pt->len; o += opt_block) {
            size_t n = pt->len - o < opt_block ? pt->len - o : opt_block, got;
            elves_error err;
            if (elves_block_encode(&got, e->buf + e->size, cap - e->size,
                                   pt->p + o, n, pt->dt, c, &err) != 0) {
                fprintf(stderr, "%s: %s\n", in->name, err.msg);
                return -1;
            }
            r->used[e->buf[e->size + 1]]++;
            e->off[nb] = e->size;
            e->raw_off[nb++] = (size_t)(pt->p + o - in->data);
            e->size += got;
        }
    }
    e->off[nb] = e->size;
    e->nblocks = nb;
    return 0;
}

static int decode_all(const encoded *e, uint8_t *out, const input *in)
{
    for (size_t b = 0; b < e->nblocks; b++) {
        size_t got;
        if (elves_block_decode(&got, out + e->raw_off[b],
                               in->len - e->raw_off[b], e->buf + e->off[b],
                               e->off[b + 1] - e->off[b], NULL) != 0)
            return -1;
    }
    return 0;
}

static size_t selected_bytes(const input *in, const scheme *s)
{
    size_t t = 0;
    for (size_t i = 0; i < in->nparts; i++)
        if (part_selected(&in->parts[i], s))
            t += in->parts[i].len;
    return t;
}

/* Lossless schemes must give back every selected byte exactly. */
static int verify(const uint8_t *out, const input *in, const scheme *s)
{
    int lossy = s->mode == ELVES_MODE_ELF || s->codec == ELVES_CODEC_ELF;
    for (size_t i = 0; i < in->nparts && !lossy; i++) {
        const part *pt = &in->parts[i];
        if (part_selected(pt, s) && pt->dup_of < 0 &&
            memcmp(out + (pt->p - in->data), pt->p, pt->len) != 0)
            return -1;
    }
    return 0;
}

/* One row of the table: a way of coding the input, timed by interleaved
 * repetitions (every row runs once per round, the best round counts), so
 * that load from other processes hits all rows alike. */
typedef struct runner {
    const scheme *s; /* NULL: plain zstd at `level` on the whole input */
    int level;
    encoded e;
    uint8_t *out;
    result r;
} runner;

static void runner_init(runner *u, const input *in, const scheme *s, int level,
                        const char *name)
{
    memset(u, 0, sizeof *u);
    u->s = s;
    u->level = level;
    u->r.scheme = name;
    u->r.in_bytes = s ? selected_bytes(in, s) : in->len;
    u->r.enc_s = u->r.dec_s = 1e30;
    u->r.ok = 1;
    u->out = xmalloc(in->len);
    memset(u->out, 0, in->len);
    if (s) {
        encoded_alloc(&u->e, in);
    } else {
        u->e.cap = ZSTD_compressBound(in->len);
        u->e.buf = xmalloc(u->e.cap);
        memset(u->e.buf, 0, u->e.cap);
    }
}

static void runner_free(runner *u)
{
    free(u->e.buf);
    free(u->e.off);
    free(u->e.raw_off);
    free(u->out);
}

static int run_encode(runner *u, const input *in)
{
    if (!u->s) {
        u->e.size =
            ZSTD_compress(u->e.buf, u->e.cap, in->data, in->len, u->level);
        return ZSTD_isError(u->e.size) ? -1 : 0;
    }
    memset(u->r.used, 0, sizeof u->r.used);
    return encode_all(&u->e, in, u->s, &u->r);
}

static int run_decode(runner *u, const input *in)
{
    if (!u->s)
        return ZSTD_isError(
                   ZSTD_decompress(u->out, in->len, u->e.buf, u->e.size))
                   ? -1
                   : 0;
    return decode_all(&u->e, u->out, in);
}

static void run_round(runner *u, const input *in)
{
    double t0;
    if (!u->r.ok)
        return;
    t0 = now();
    if (run_encode(u, in) != 0) {
        u->r.ok = 0;
        return;
    }
    t0 = now() - t0;
    u->r.enc_s = t0 < u->r.enc_s ? t0 : u->r.enc_s;
    t0 = now();
    if (run_decode(u, in) != 0) {
        fprintf(stderr, "%s: %s: decode failed\n", in->name, u->r.scheme);
        u->r.ok = 0;
        return;
    }
    t0 = now() - t0;
    u->r.dec_s = t0 < u->r.dec_s ? t0 : u->r.dec_s;
    u->r.out_bytes = u->e.size;
}

static void run_check(runner *u, const input *in)
{
    if (!u->r.ok)
        return;
    if (u->s ? verify(u->out, in, u->s) != 0
             : memcmp(u->out, in->data, in->len) != 0) {
        fprintf(stderr, "%s: %s: MISMATCH\n", in->name, u->r.scheme);
        u->r.ok = 0;
    }
}

/* ---- bounds
 * ----------------------------------------------------------------------- */

/* Order-0 bound of the whole input: float streams for float tensors,
 * bytes elsewhere; duplicates counted once. */
static double input_bound(const input *in, elves_dtype only, int elf)
{
    double b = 0;
    for (size_t i = 0; i < in->nparts; i++) {
        const part *pt = &in->parts[i];
        if ((only != ELVES_DT_OPAQUE && pt->dt != only) || pt->dup_of >= 0)
            continue;
        b += elf ? elves_elf_entropy_bound(pt->p, pt->len)
                 : elves_entropy_bound(pt->p, pt->len, pt->dt);
    }
    return b;
}

/* ---- output
 * ----------------------------------------------------------------------- */

static void print_row(const input *in, const result *r)
{
    char used[96] = "";
    size_t k = 0;
    for (int c = 0; c < ELVES_CODEC_COUNT; c++)
        if (r->used[c])
            k +=
                (size_t)snprintf(used + k, sizeof used - k, "%s%s:%u",
                                 k ? "," : "", elves_codec_name(c), r->used[c]);
    printf("  %-16s %11zu %11zu %7.4f %9.1f %9.1f %s%s\n", r->scheme,
           r->in_bytes, r->out_bytes,
           r->out_bytes ? (double)r->in_bytes / r->out_bytes : 0,
           r->enc_s > 0 ? r->in_bytes / r->enc_s / 1e6 : 0,
           r->dec_s > 0 ? r->in_bytes / r->dec_s / 1e6 : 0, used,
           r->ok ? "" : " FAILED");
    (void)in;
}

static void json_row(const input *in, const result *r)
{
    printf("{\"input\":\"%s\",\"block\":%u,\"scheme\":\"%s\",\"bytes\":%zu,"
           "\"stored\":%zu,\"ratio\":%.5f,\"enc_mbs\":%.1f,\"dec_mbs\":%.1f,"
           "\"ok\":%s}\n",
           in->name, opt_block, r->scheme, r->in_bytes, r->out_bytes,
           r->out_bytes ? (double)r->in_bytes / r->out_bytes : 0,
           r->enc_s > 0 ? r->in_bytes / r->enc_s / 1e6 : 0,
           r->dec_s > 0 ? r->in_bytes / r->dec_s / 1e6 : 0,
           r->ok ? "true" : "false");
}

static void bound_row(const char *name, size_t bytes, double bound)
{
    printf("  %-16s %11zu %11.0f %7.4f\n", name, bytes, bound,
           bound > 0 ? bytes / bound : 0);
}

static size_t dtype_bytes(const input *in, elves_dtype dt)
{
    size_t t = 0;
    for (size_t i = 0; i < in->nparts; i++)
        if (in->parts[i].dt == dt)
            t += in->parts[i].len;
    return t;
}

#define NROWS 12

static void bench_input(input *in, int json)
{
    static const scheme schemes[] = {
        {"lossless", -1, ELVES_MODE_LOSSLESS, ELVES_DT_OPAQUE},
        {"elf-mode", -1, ELVES_MODE_ELF, ELVES_DT_OPAQUE},
        {"FLOAT", ELVES_CODEC_FLOAT, 0, ELVES_DT_OPAQUE},
        {"DICT", ELVES_CODEC_DICT, 0, ELVES_DT_OPAQUE},
        {"ZSTD-codec", ELVES_CODEC_ZSTD, 0, ELVES_DT_OPAQUE},
        {"ELF(F32 only)", ELVES_CODEC_ELF, 0, ELVES_DT_F32},
        {"elf-mode(F32)", -1, ELVES_MODE_ELF, ELVES_DT_F32},
        {"FLOAT(F32 only)", ELVES_CODEC_FLOAT, 0, ELVES_DT_F32},
    };
    size_t ns = sizeof schemes / sizeof schemes[0], nr = 0, f32;
    runner u[NROWS];
    double spent = 0, t0;
    for (size_t i = 0; i < ns; i++) {
        if ((schemes[i].only != ELVES_DT_OPAQUE &&
             dtype_bytes(in, schemes[i].only) == 0) ||
            (opt_only && strcmp(opt_only, schemes[i].name) != 0))
            continue;
        runner_init(&u[nr++], in, &schemes[i], 0, schemes[i].name);
    }
    if (!opt_only || strcmp(opt_only, "zstd -3") == 0)
        runner_init(&u[nr++], in, NULL, 3, "zstd -3");
    if (opt_zstd19 && !opt_only)
        runner_init(&u[nr++], in, NULL, 19, "zstd -19");
    for (int round = 0; round < opt_rounds || spent < opt_min_time; round++) {
        t0 = now();
        for (size_t i = 0; i < nr; i++)
            if (round == 0 || u[i].level != 19) /* -19: once is plenty */
                run_round(&u[i], in);
        spent += now() - t0;
    }
    printf("%s (%zu bytes, %zu segments, block %u)\n", in->name, in->len,
           in->nparts, opt_block);
    printf("  %-16s %11s %11s %7s %9s %9s %s\n", "scheme", "bytes", "stored",
           "ratio", "enc MB/s", "dec MB/s", "blocks");
    for (size_t i = 0; i < nr; i++) {
        run_check(&u[i], in);
        print_row(in, &u[i].r);
    }
    bound_row("entropy bound", in->len, input_bound(in, ELVES_DT_OPAQUE, 0));
    f32 = dtype_bytes(in, ELVES_DT_F32);
    if (f32) {
        bound_row("F32 float bound", f32, input_bound(in, ELVES_DT_F32, 0));
        bound_row("F32 elf bound", f32, input_bound(in, ELVES_DT_F32, 1));
    }
    if (json)
        for (size_t i = 0; i < nr; i++)
            json_row(in, &u[i].r);
    for (size_t i = 0; i < nr; i++)
        runner_free(&u[i]);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    elves_dtype forced = ELVES_DT_OPAQUE;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        input in = {0};
        if (strcmp(argv[i], "--block") == 0 && i + 1 < argc) {
            opt_block = (uint32_t)strtoul(argv[++i], NULL, 0);
            continue;
        }
        if (strcmp(argv[i], "--min-time") == 0 && i + 1 < argc) {
            opt_min_time = atof(argv[++i]);
            continue;
        }
        if (strcmp(argv[i], "--dtype") == 0 && i + 1 < argc) {
            forced = elves_dtype_from_name(argv[++i]);
            continue;
        }
        if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            opt_rounds = atoi(argv[++i]);
            continue;
        }
        if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            opt_only = argv[++i];
            continue;
        }
        if (strcmp(argv[i], "--no-zstd19") == 0) {
            opt_zstd19 = 0;
            continue;
        }
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
            continue;
        }
        if (strcmp(argv[i], "--synthetic") == 0 && i + 1 < argc) {
            gen_synthetic(&in, argv[++i]);
        } else if (read_file(&in, argv[i]) != 0) {
            fprintf(stderr, "bench_codecs: cannot read %s\n", argv[i]);
            return 1;
        } else {
            segment_input(&in, forced);
        }
        bench_input(&in, json);
        free(in.parts);
        free(in.data);
    }
    return 0;
}
