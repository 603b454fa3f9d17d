/*
 * gen_checkpoint.c - writes a synthetic safetensors checkpoint whose values
 * look like trained weights, for tests and benchmarks that need files of a
 * given size (up to many GB) or files sharing tensors with another one.
 *
 * usage: gen_checkpoint [options] OUT
 *   --dtype F32|BF16|F16  element type of the generated tensors (F32)
 *   --size BYTES          bytes of generated tensor data, with an optional
 *                         K, M or G suffix (powers of 1024); the result is
 *                         within one row of it (16M)
 *   --tensors N           number of generated tensors (16)
 *   --seed S              seed; the same options give the same bytes (1)
 *   --share FROM          copy every tensor of the safetensors file FROM
 *                         (name, dtype, shape, bytes) into OUT, in place of
 *                         the generated tensor of the same name if there is
 *                         one; may be repeated
 *   --help
 *
 * Generated tensors, like a small transformer: "embed.weight" with std 1,
 * then per layer "layers.L.attn.qkv.weight" (std 0.02), "layers.L.attn.out.
 * weight" (std 0.02 plus about one value in 4096 of magnitude 2..16),
 * "layers.L.mlp.weight" (std 0.02) and "layers.L.norm.weight" (all ones,
 * like a LayerNorm gain).  Values are Gaussian (Box-Muller over xoshiro256**,
 * seeded per tensor), rounded to nearest even for BF16 and F16.
 *
 * Data is generated and written in chunks, so memory stays small whatever
 * the size; shared tensors are copied from a read-only mapping of FROM.  The
 * written file is mapped back and checked with elves_parse_safetensors.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elves.h"

#define CHUNK_ELEMS ((size_t)1 << 18)
#define COPY_CHUNK ((size_t)8 << 20)

typedef enum gen_kind {
    GEN_WIDE,     /* std 1, like token embeddings */
    GEN_NORMAL,   /* std 0.02 */
    GEN_OUTLIERS, /* std 0.02 and a few large values */
    GEN_ONES,     /* 1.0 everywhere */
    GEN_SHARED    /* copied from another file */
} gen_kind;

typedef struct plan_tensor {
    char *name;
    gen_kind kind;
    elves_dtype dtype;
    uint32_t ndim;
    uint64_t shape[ELVES_MAX_DIMS];
    uint64_t bytes;
    const uint8_t *src; /* GEN_SHARED: bytes in a mapping */
    uint64_t index;     /* seeds the tensor's generator */
} plan_tensor;

typedef struct mapping {
    uint8_t *data;
    size_t len;
} mapping;

typedef struct options {
    elves_dtype dtype;
    uint64_t size;
    uint64_t tensors;
    uint64_t seed;
    const char **share;
    size_t nshare;
    const char *out;
} options;

typedef struct plan {
    plan_tensor *t;
    size_t n;
    mapping *maps;
    size_t nmaps;
} plan;

/* ---- random numbers -------------------------------------------------------
 */

typedef struct rng {
    uint64_t s[4];
    double spare;
    int has_spare;
} rng;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void rng_seed(rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1342543de82ef95ull);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
    r->has_spare = 0;
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(rng *r) /* xoshiro256** */
{
    uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3];
    s[2] ^= t, s[3] = rotl(s[3], 45);
    return out;
}

/* Uniform in [0, 1). */
static double rng_unit(rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* Standard normal, Box-Muller, both values of each pair used. */
static double rng_gauss(rng *r)
{
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u1 = 1.0 - rng_unit(r), u2 = rng_unit(r); /* u1 in (0, 1] */
    double rad = sqrt(-2.0 * log(u1)), ang = 2.0 * M_PI * u2;
    r->spare = rad * sin(ang);
    r->has_spare = 1;
    return rad * cos(ang);
}

/* ---- float conversions (round to nearest even) --------------------------- */

static uint32_t f32_bits(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    return x;
}

static uint16_t f32_to_bf16(float f)
{
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffff) > 0x7f800000)
        return (uint16_t)((x >> 16) | 0x40); /* quiet NaN */
    return (uint16_t)((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

static uint16_t f32_to_f16(float f)
{
    uint32_t x = f32_bits(f), ax = x & 0x7fffffff;
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    if (ax > 0x7f800000)
        return sign | 0x7e00; /* NaN */
    if (ax >= 0x477ff000)
        return sign | 0x7c00; /* rounds to infinity */
    if (ax >= 0x38800000) {   /* normal half */
        uint32_t r = ax + 0xfff + ((ax >> 13) & 1);
        return sign | (uint16_t)((r >> 13) - (112u << 10));
    }
    if (ax < 0x33000000)
        return sign; /* below half the smallest subnormal */
    uint32_t e = ax >> 23, mant = (ax & 0x7fffff) | 0x800000;
    uint32_t shift = 126 - e, k = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (k & 1)))
        k++;
    return sign | (uint16_t)k;
}

/* ---- the plan: which tensors, how big -------------------------------------
 */

static const char *kind_suffix[] = {"attn.qkv.weight", "attn.out.weight",
                                    "mlp.weight", "norm.weight"};

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d) {
        perror("gen_checkpoint");
        exit(1);
    }
    return d;
}

/* Tensor i of the generated ones: its name and kind. */
static void name_tensor(plan_tensor *t, uint64_t i)
{
    char name[96];
    if (i == 0) {
        snprintf(name, sizeof name, "embed.weight");
        t->kind = GEN_WIDE;
    } else {
        uint64_t layer = (i - 1) / 4, k = (i - 1) % 4;
        snprintf(name, sizeof name, "layers.%llu.%s", (unsigned long long)layer,
                 kind_suffix[k]);
        t->kind = k == 0 || k == 2 ? GEN_NORMAL
                  : k == 1         ? GEN_OUTLIERS
                                   : GEN_ONES;
    }
    t->name = xstrdup(name);
    t->index = i;
}

/* Norms get one row of width h; the matrices share the rest in rows of h,
 * h being about the square root of a matrix's share. */
static void size_tensors(plan *p, const options *o)
{
    uint64_t esize = elves_dtype_bits(o->dtype) / 8;
    uint64_t elems = o->size / esize, nnorm = 0;
    for (size_t i = 0; i < p->n; i++)
        nnorm += p->t[i].kind == GEN_ONES;
    uint64_t nmat = p->n - nnorm;
    uint64_t h = (uint64_t)sqrt((double)elems / (double)(nmat ? nmat : 1));
    h = h < 8 ? 8 : h > 16384 ? 16384 : h / 8 * 8;
    uint64_t norm_elems = nnorm * h < elems ? nnorm * h : 0;
    uint64_t rows = (elems - norm_elems) / h, m = 0;
    for (size_t i = 0; i < p->n; i++) {
        plan_tensor *t = &p->t[i];
        t->dtype = o->dtype;
        t->ndim = t->kind == GEN_ONES ? 1 : 2;
        if (t->kind == GEN_ONES) {
            t->shape[0] = norm_elems ? h : 0;
        } else {
            t->shape[0] = rows / nmat + (m++ < rows % nmat);
            t->shape[1] = h;
        }
        t->bytes = t->shape[0] * (t->ndim == 2 ? h : 1) * esize;
    }
}

static void map_file(mapping *m, const char *path)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        fprintf(stderr, "gen_checkpoint: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    m->len = (size_t)st.st_size;
    m->data = m->len ? mmap(NULL, m->len, PROT_READ, MAP_SHARED, fd, 0) : NULL;
    close(fd);
    if (m->len && m->data == MAP_FAILED) {
        fprintf(stderr, "gen_checkpoint: mmap %s: %s\n", path, strerror(errno));
        exit(1);
    }
}

/* The slot for a shared tensor: the generated one of that name, or a new
 * one at the end. */
static plan_tensor *slot_for(plan *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->t[i].name, name) == 0) {
            free(p->t[i].name);
            return &p->t[i];
        }
    plan_tensor *t = realloc(p->t, (p->n + 1) * sizeof *t);
    if (!t) {
        perror("gen_checkpoint");
        exit(1);
    }
    p->t = t;
    return &p->t[p->n++];
}

static void add_shared(plan *p, mapping *m, const char *path)
{
    map_file(m, path);
    elves_segments *s;
    elves_error err;
    if (elves_parse_safetensors(&s, m->data, m->len, &err) != ELVES_OK) {
        fprintf(stderr, "gen_checkpoint: %s: %s\n", path, err.msg);
        exit(1);
    }
    for (size_t i = 0; i < s->count; i++) {
        const elves_segment *g = &s->items[i];
        if (g->kind != ELVES_SEG_TENSOR)
            continue;
        plan_tensor *t = slot_for(p, g->name);
        *t = (plan_tensor){.name = xstrdup(g->name),
                           .kind = GEN_SHARED,
                           .dtype = g->dtype,
                           .ndim = g->ndim,
                           .bytes = g->length,
                           .src = m->data + g->offset};
        memcpy(t->shape, g->shape, sizeof t->shape);
    }
    elves_segments_free(s);
}

static void make_plan(plan *p, const options *o)
{
    p->n = (size_t)o->tensors;
    p->t = calloc(p->n ? p->n : 1, sizeof *p->t);
    p->maps = calloc(o->nshare ? o->nshare : 1, sizeof *p->maps);
    if (!p->t || !p->maps) {
        perror("gen_checkpoint");
        exit(1);
    }
    for (size_t i = 0; i < p->n; i++)
        name_tensor(&p->t[i], i);
    size_tensors(p, o);
    for (size_t i = 0; i < o->nshare; i++)
        add_shared(p, &p->maps[p->nmaps++], o->share[i]);
}

/* ---- writing --------------------------------------------------------------
 */

/* The JSON header, padded with spaces to a multiple of 8. */
static char *make_header(size_t *out_len, const plan *p, const options *o)
{
    json_t *root = json_object(), *meta = json_object();
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    json_object_set_new(meta, "format", json_string("pt"));
    json_object_set_new(meta, "generator", json_string("gen_checkpoint"));
    json_object_set_new(meta, "seed", json_string(seed));
    json_object_set_new(root, "__metadata__", meta);
    uint64_t at = 0;
    for (size_t i = 0; i < p->n; i++) {
        const plan_tensor *t = &p->t[i];
        json_t *shape = json_array(), *e = json_object();
        for (uint32_t d = 0; d < t->ndim; d++)
            json_array_append_new(shape, json_integer((json_int_t)t->shape[d]));
        json_object_set_new(e, "dtype",
                            json_string(elves_dtype_name(t->dtype)));
        json_object_set_new(e, "shape", shape);
        json_object_set_new(
            e, "data_offsets",
            json_pack("[II]", (json_int_t)at, (json_int_t)(at + t->bytes)));
        json_object_set_new(root, t->name, e);
        at += t->bytes;
    }
    char *json = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!json) {
        fprintf(stderr, "gen_checkpoint: cannot build the header\n");
        exit(1);
    }
    size_t n = strlen(json), padded = (n + 7) / 8 * 8;
    char *h = realloc(json, padded + 1);
    if (!h) {
        perror("gen_checkpoint");
        exit(1);
    }
    memset(h + n, ' ', padded - n);
    *out_len = padded;
    return h;
}

static void put(FILE *fp, const void *data, size_t n)
{
    if (n && fwrite(data, 1, n, fp) != n) {
        perror("gen_checkpoint: write");
        exit(1);
    }
}

static float sample(rng *r, gen_kind kind)
{
    switch (kind) {
    case GEN_WIDE:
        return (float)rng_gauss(r);
    case GEN_ONES:
        return 1.0f;
    case GEN_OUTLIERS:
        if ((rng_next(r) & 4095) == 0) {
            double mag = 2.0 + 14.0 * rng_unit(r);
            return (float)(rng_next(r) & 1 ? mag : -mag);
        }
        return (float)(0.02 * rng_gauss(r));
    default:
        return (float)(0.02 * rng_gauss(r));
    }
}

/* One generated tensor, CHUNK_ELEMS values at a time. */
static void write_generated(FILE *fp, const plan_tensor *t, uint64_t seed,
                            uint8_t *buf)
{
    rng r;
    rng_seed(&r, seed, t->index);
    unsigned esize = elves_dtype_bits(t->dtype) / 8;
    uint64_t left = t->bytes / esize;
    while (left) {
        size_t n = left < CHUNK_ELEMS ? (size_t)left : CHUNK_ELEMS;
        for (size_t i = 0; i < n; i++) {
            float v = sample(&r, t->kind);
            uint16_t h;
            if (t->dtype == ELVES_DT_F32) {
                memcpy(buf + 4 * i, &v, 4);
                continue;
            }
            h = t->dtype == ELVES_DT_BF16 ? f32_to_bf16(v) : f32_to_f16(v);
            memcpy(buf + 2 * i, &h, 2);
        }
        put(fp, buf, n * esize);
        left -= n;
    }
}

/* A shared tensor, copied in chunks; pages already written are dropped so
 * the mapping does not pile up in memory. */
static void write_shared(FILE *fp, const plan_tensor *t)
{
    long page = sysconf(_SC_PAGESIZE);
    for (uint64_t at = 0; at < t->bytes; at += COPY_CHUNK) {
        size_t n =
            t->bytes - at < COPY_CHUNK ? (size_t)(t->bytes - at) : COPY_CHUNK;
        put(fp, t->src + at, n);
        uintptr_t lo = (uintptr_t)(t->src + at) / page * page;
        madvise((void *)lo, (uintptr_t)(t->src + at + n) - lo, MADV_DONTNEED);
    }
}

static void write_file(const plan *p, const options *o)
{
    size_t hlen;
    char *header = make_header(&hlen, p, o);
    FILE *fp = fopen(o->out, "wb");
    uint8_t *buf = malloc(CHUNK_ELEMS * 4);
    if (!fp || !buf) {
        fprintf(stderr, "gen_checkpoint: %s: %s\n", o->out, strerror(errno));
        exit(1);
    }
    uint64_t n64 = hlen;
    put(fp, &n64, 8);
    put(fp, header, hlen);
    for (size_t i = 0; i < p->n; i++) {
        if (p->t[i].kind == GEN_SHARED)
            write_shared(fp, &p->t[i]);
        else
            write_generated(fp, &p->t[i], o->seed, buf);
    }
    if (fclose(fp) != 0) {
        perror("gen_checkpoint: close");
        exit(1);
    }
    free(buf);
    free(header);
}

/* Maps the result back and parses it: the tool never leaves a bad file. */
static void verify(const plan *p, const char *path)
{
    mapping m;
    map_file(&m, path);
    elves_segments *s;
    elves_error err;
    if (elves_parse_safetensors(&s, m.data, m.len, &err) != ELVES_OK) {
        fprintf(stderr, "gen_checkpoint: wrote a bad file: %s\n", err.msg);
        exit(1);
    }
    if (s->count != p->n + 1) {
        fprintf(stderr, "gen_checkpoint: wrote %zu tensors, planned %zu\n",
                s->count - 1, p->n);
        exit(1);
    }
    printf("%s: %zu tensors, %zu bytes\n", path, p->n, m.len);
    elves_segments_free(s);
    if (m.len)
        munmap(m.data, m.len);
}

/* ---- options --------------------------------------------------------------
 */

static void usage(FILE *fp)
{
    fprintf(fp, "usage: gen_checkpoint [options] OUT\n"
                "  --dtype F32|BF16|F16  element type of generated tensors "
                "(F32)\n"
                "  --size BYTES          generated tensor bytes, suffix K/M/G "
                "(16M)\n"
                "  --tensors N           generated tensors (16)\n"
                "  --seed S              seed; same options, same bytes (1)\n"
                "  --share FROM          copy FROM's tensors in (replacing "
                "same-named ones);\n"
                "                        may be repeated\n"
                "  --help                this text\n");
}

static int parse_size(uint64_t *out, const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-')
        return 0;
    unsigned shift = 0;
    if (*end) {
        const char *u = strchr("KMG", *end & ~0x20);
        if (!u || end[1])
            return 0;
        shift = 10 * (unsigned)(u - "KMG" + 1);
    }
    if (v > (UINT64_MAX >> shift))
        return 0;
    *out = v << shift;
    return 1;
}

static void bad_option(const char *opt, const char *value)
{
    fprintf(stderr, "gen_checkpoint: bad value for %s: '%s'\n", opt, value);
    usage(stderr);
    exit(2);
}

static void parse_options(options *o, int argc, char **argv)
{
    static const struct option longs[] = {
        {"dtype", required_argument, NULL, 'd'},
        {"size", required_argument, NULL, 's'},
        {"tensors", required_argument, NULL, 't'},
        {"seed", required_argument, NULL, 'r'},
        {"share", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (options){ELVES_DT_F32, 16u << 20, 16, 1, NULL, 0, NULL};
    o->share = calloc((size_t)argc, sizeof *o->share);
    int c;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (c) {
        case 'd':
            o->dtype = elves_dtype_from_name(optarg);
            if (o->dtype != ELVES_DT_F32 && o->dtype != ELVES_DT_BF16 &&
                o->dtype != ELVES_DT_F16)
                bad_option("--dtype", optarg);
            break;
        case 's':
            if (!parse_size(&o->size, optarg))
                bad_option("--size", optarg);
            break;
        case 't':
            if (!parse_size(&o->tensors, optarg) || o->tensors > (1u << 24))
                bad_option("--tensors", optarg);
            break;
        case 'r':
            if (!parse_size(&o->seed, optarg))
                bad_option("--seed", optarg);
            break;
        case 'S':
            o->share[o->nshare++] = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            exit(2);
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        exit(2);
    }
    o->out = argv[optind];
}

int main(int argc, char **argv)
{
    options o;
    plan p = {0};
    parse_options(&o, argc, argv);
    make_plan(&p, &o);
    write_file(&p, &o);
    verify(&p, o.out);
    for (size_t i = 0; i < p.n; i++)
        free(p.t[i].name);
    for (size_t i = 0; i < p.nmaps; i++)
        if (p.maps[i].len)
            munmap(p.maps[i].data, p.maps[i].len);
    free(p.t);
    free(p.maps);
    free(o.share);
    return 0;
}
