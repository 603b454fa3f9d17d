/*
 * base.c - delta coding in the store: which base tensors a file version is
 * coded against (base_plan_*), and where every delta block, in ingest and
 * in downloads, finds its base tensor's decoded bytes (st->base_src).
 *
 * The plan: the job's repository declares a base ("org/name[@rev]",
 * repos.base), or else its README.md on main names one (base_model in the
 * model card's front matter, the Hugging Face convention; a list's first
 * entry); the chain is followed to the root (a fine-tune of a fine-tune is
 * coded against the root base, so chains stay one level deep), and the
 * root's tensors at that revision are listed by segment name.  The model
 * card is read when the job starts: a file compressed before its README
 * is committed is coded alone.  With neither, the base is detected
 * (detect_base): the largest named tensors of the new file are looked up
 * by (name, dtype, shape) among the tensors on other repositories' main
 * branches and in the files a mirror fetched (a mirrored file's job names
 * no local repository: detection is all it has, and the plan is then the
 * tensors of the fetched files that matched), and the repository most of
 * them match is kept if a sample of
 * blocks says delta coding pays (the XOR planes' order-0 bound well below
 * that of the samples coded alone).  A tensor of the new file is coded against
 * the base tensor of the same name, dtype, shape and length.
 *
 * Reads: a delta block names its base by fingerprint (tensors.fingerprint)
 * and offset.  The tensor's block map (tensor_blocks) is loaded once and
 * kept in a small table (BASE_MAPS maps, least recently used replaced);
 * its blocks are decoded through the shared decoded-block cache, so a base
 * that many fine-tunes share stays hot.  A tensor row never changes once
 * written (ids are never reused), and a chunk that compaction moved is
 * found again by reader_block_copy, so a kept map stays right; a base
 * tensor is never collected while a delta tensor names it (tensors.base_id,
 * migrations/0006_delta.sql).
 */
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "card.h"

#define BASE_MAPS 64
#define BASE_CHAIN_MAX 8

/* ---- block maps of base tensors ------------------------------------------ */

typedef struct base_block {
    uint64_t raw_offset; /* within the tensor */
    uint32_t raw_len;
    int64_t chunk_id;
    chunk_loc loc;
} base_block;

typedef struct base_map {
    elves_fp128 fp;
    int64_t tensor_id;
    uint64_t raw_len;
    base_block *blocks;
    size_t n;
    uint64_t used; /* clock of the last use */
} base_map;

struct base_maps {
    pthread_mutex_t mu;
    base_map maps[BASE_MAPS];
    uint64_t clock;
};

static int store_base_read(void *ctx, const elves_fp128 *fp, uint64_t offset,
                           uint32_t len, uint8_t *out);

int base_init(es_store *st, es_err *err)
{
    st->bases = calloc(1, sizeof *st->bases);
    if (!st->bases || pthread_mutex_init(&st->bases->mu, NULL) != 0) {
        free(st->bases);
        st->bases = NULL;
        return es_errf(err, 500, "out of memory");
    }
    st->base_src.read = store_base_read;
    st->base_src.match = NULL;
    st->base_src.ctx = st;
    st->base_src.file_sha256 = NULL;
    return 0;
}

void base_shutdown(es_store *st)
{
    if (!st->bases)
        return;
    for (int i = 0; i < BASE_MAPS; i++)
        free(st->bases->maps[i].blocks);
    pthread_mutex_destroy(&st->bases->mu);
    free(st->bases);
    st->bases = NULL;
}

typedef struct map_load {
    vec blocks; /* of base_block */
    es_err *err;
} map_load;

static int map_add_block(void *arg, const meta_chunk_block *b)
{
    map_load *l = arg;
    base_block *bb = vec_grow(&l->blocks);
    if (!bb)
        return es_errf(l->err, 500, "out of memory");
    bb->raw_offset = b->raw_offset;
    bb->raw_len = b->raw_len;
    bb->chunk_id = b->chunk.id;
    bb->loc = (chunk_loc){b->chunk.container, b->chunk.offset, b->chunk.length,
                          b->chunk.checksum};
    return 0;
}

/* Loads the map of the lossless tensor with fingerprint fp (unlocked). */
static int map_load_tensor(es_store *st, const elves_fp128 *fp, base_map *out,
                           es_err *err)
{
    char hex[33];
    meta_tx *tx;
    map_load l = {VEC_INIT(base_block), err};
    int rc;

    elves_fp128_hex(hex, fp);
    if (meta_begin(st->meta, META_READ, &tx, err) < 0)
        return -1;
    rc = meta_tensor_by_fingerprint(tx, hex, &out->tensor_id, &out->raw_len,
                                    err);
    if (rc == 1)
        rc = meta_tensor_block_each(tx, out->tensor_id, map_add_block, &l,
                                    err) < 0
                 ? -1
                 : 1;
    rc = meta_end(tx, rc, err);
    if (rc == 0)
        rc = es_errf(err, 404, "base tensor %s is not stored", hex);
    if (rc < 0) {
        vec_free(&l.blocks);
        return -1;
    }
    out->fp = *fp;
    out->blocks = l.blocks.items;
    out->n = l.blocks.n;
    return 0;
}

/* The blocks of a map that cover [off, off + len): [*lo, *hi). */
static void map_cover(const base_block *blocks, size_t n, uint64_t off,
                      uint32_t len, size_t *lo, size_t *hi)
{
    size_t a = 0, b = n;
    while (a < b) { /* first block ending after off */
        size_t mid = (a + b) / 2;
        if (blocks[mid].raw_offset + blocks[mid].raw_len <= off)
            a = mid + 1;
        else
            b = mid;
    }
    *lo = a;
    while (b < n && blocks[b].raw_offset < off + len)
        b++;
    *hi = b > a ? b : a;
}

/* Copies the bytes [off, off + len) that blocks (the ones covering them,
 * in order) decode to into out. */
static int map_copy(es_store *st, const base_block *blocks, size_t n,
                    uint64_t off, uint32_t len, uint8_t *out, es_err *err)
{
    uint64_t end = off + len;
    for (size_t k = 0; k < n && off < end; k++) {
        const base_block *b = &blocks[k];
        if (b->raw_offset > off)
            break; /* a gap: not a tiling */
        uint64_t from = off - b->raw_offset;
        size_t take = (size_t)(b->raw_len - from < end - off ? b->raw_len - from
                                                             : end - off);
        if (reader_block_copy(st, b->chunk_id, &b->loc, b->raw_len, from, take,
                              out, err) < 0)
            return -1;
        out += take;
        off += take;
    }
    return off == end ? 0 : es_errf(err, 500, "base tensor map has a gap");
}

/* The kept map of fp (lock held), or NULL. */
static base_map *map_find(base_maps *bm, const elves_fp128 *fp)
{
    for (int i = 0; i < BASE_MAPS; i++)
        if (bm->maps[i].blocks && memcmp(bm->maps[i].fp.b, fp->b, 16) == 0)
            return &bm->maps[i];
    return NULL;
}

/* Keeps a freshly loaded map in place of the least recently used one
 * (lock held); returns where it now is. */
static base_map *map_keep(base_maps *bm, base_map *fresh)
{
    base_map *victim = map_find(bm, &fresh->fp);
    if (victim) { /* another thread loaded it meanwhile */
        free(fresh->blocks);
        return victim;
    }
    victim = &bm->maps[0];
    for (int i = 1; i < BASE_MAPS; i++)
        if (bm->maps[i].used < victim->used)
            victim = &bm->maps[i];
    free(victim->blocks);
    *victim = *fresh;
    return victim;
}

/* elves_base_read_fn over the store: any thread, any number at once.  The
 * blocks under the range (one, for blocks of the same size) are copied
 * out of the kept map under the lock; decoding runs without it. */
static int store_base_read(void *ctx, const elves_fp128 *fp, uint64_t offset,
                           uint32_t len, uint8_t *out)
{
    es_store *st = ctx;
    base_maps *bm = st->bases;
    base_map fresh = {0}, *m;
    base_block *cover = NULL;
    size_t lo = 0, hi = 0;
    es_err err = {0, ""};
    int rc;

    pthread_mutex_lock(&bm->mu);
    m = map_find(bm, fp);
    if (!m) {
        pthread_mutex_unlock(&bm->mu);
        if (map_load_tensor(st, fp, &fresh, &err) < 0) {
            fprintf(stderr, "elvesd: delta base: %s\n", err.msg);
            return -1;
        }
        pthread_mutex_lock(&bm->mu);
        m = map_keep(bm, &fresh);
    }
    m->used = ++bm->clock;
    map_cover(m->blocks, m->n, offset, len, &lo, &hi);
    cover = malloc((hi - lo ? hi - lo : 1) * sizeof *cover);
    if (cover)
        memcpy(cover, m->blocks + lo, (hi - lo) * sizeof *cover);
    pthread_mutex_unlock(&bm->mu);
    if (!cover)
        return -1;
    rc = map_copy(st, cover, hi - lo, offset, len, out, &err);
    free(cover);
    if (rc < 0)
        fprintf(stderr, "elvesd: delta base: %s\n", err.msg);
    return rc < 0 ? -1 : 0;
}

/* ---- plans ----------------------------------------------------------------
 */

typedef struct plan_tensor {
    char *name, *dtype, *shape;
    uint64_t raw_len;
    int64_t id;
    elves_fp128 fp;
} plan_tensor;

struct base_plan {
    char repo[256];
    vec tensors; /* of plan_tensor, sorted by name */
};

void base_plan_free(base_plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->tensors.n; i++) {
        plan_tensor *t = &VEC_AT(&p->tensors, plan_tensor, i);
        free(t->name);
        free(t->dtype);
        free(t->shape);
    }
    vec_free(&p->tensors);
    free(p);
}

const char *base_plan_repo(const base_plan *p)
{
    return p->repo;
}

typedef struct plan_load {
    base_plan *p;
    es_err *err;
} plan_load;

static int plan_add(void *arg, const meta_base_tensor *t)
{
    plan_load *l = arg;
    plan_tensor pt = {0};
    if (t->base_id) /* a delta tensor is never a base */
        return 0;
    if (es_unhex(pt.fp.b, t->fingerprint, 16) < 0)
        return 0;
    pt.name = strdup(t->name);
    pt.dtype = strdup(t->dtype);
    pt.shape = strdup(t->shape);
    pt.raw_len = t->raw_len;
    pt.id = t->id;
    plan_tensor *slot = vec_grow(&l->p->tensors);
    if (!pt.name || !pt.dtype || !pt.shape || !slot) {
        free(pt.name);
        free(pt.dtype);
        free(pt.shape);
        return es_errf(l->err, 500, "out of memory");
    }
    *slot = pt;
    return 0;
}

static int cmp_plan(const void *a, const void *b)
{
    return strcmp(((const plan_tensor *)a)->name,
                  ((const plan_tensor *)b)->name);
}

/* Splits "org/name@rev" into repo and revision (NULL: main). */
static void split_spec(const char *spec, char repo[256], char rev[256])
{
    const char *at = strchr(spec, '@');
    size_t n = at ? (size_t)(at - spec) : strlen(spec);
    if (n > 255)
        n = 255;
    memcpy(repo, spec, n);
    repo[n] = 0;
    snprintf(rev, 256, "%s", at ? at + 1 : "");
}

/* The job's repository and the base it declares: 1 with spec, 0 none.
 * A file a mirror fetched has no local repository (its job names the
 * upstream's): it declares nothing, and detection may find its base. */
static int declared_base(es_store *st, int64_t job_id, char repo[200],
                         char spec[256], es_err *err)
{
    meta_tx *tx;
    meta_job job;
    int64_t repo_id;
    int rc;

    if (meta_begin(st->meta, META_READ, &tx, err) < 0)
        return -1;
    rc = meta_job_get(tx, job_id, &job, err);
    if (rc == 1) {
        snprintf(repo, 200, "%s", job.repo);
        rc = repo_find(tx, job.repo, &repo_id, NULL, err);
        if (rc == 0)
            rc = meta_repo_base_get(tx, repo_id, spec, err);
        else if (err->status == 404)
            rc = 0, *err = (es_err){0, ""};
    }
    return meta_end(tx, rc, err);
}

/* base_model in the front matter of README.md on main: 1 with spec. */
static int card_base(es_store *st, const char *repo, char spec[256])
{
    store_file f;
    store_reader *r = NULL;
    es_err e = {0, ""};
    size_t n, got = 0;
    char *text;
    int rc = 0;

    if (store_file_lookup(st, repo, NULL, "README.md", &f, &e) < 0)
        return 0;
    n = f.size < CARD_FRONT_MAX + 8 ? (size_t)f.size : CARD_FRONT_MAX + 8;
    text = malloc(n + 1);
    if (text && store_reader_open(st, &f, &r, &e) == 0) {
        while (got < n) {
            size_t k = 0;
            if (store_reader_read(r, got, (uint8_t *)text + got, n - got, &k,
                                  &e) < 0 ||
                k == 0)
                break;
            got += k;
        }
        store_reader_close(r);
        json_t *front = card_front_matter(text, got);
        rc = card_base_model(front, spec, 256) && store_base_spec_valid(spec);
        json_decref(front);
    }
    free(text);
    return rc;
}

/* ---- detection ------------------------------------------------------------
 */

/* Bounded work per file: DETECT_TENSORS index lookups (each returning at
 * most DETECT_ROWS rows), then DETECT_SAMPLES samples of DETECT_SAMPLE
 * bytes read from the candidate base and entropy-counted. */
#define DETECT_TENSORS 8
#define DETECT_ROWS 16
#define DETECT_SAMPLES 4
#define DETECT_SAMPLE ((size_t)64 << 10)
#define DETECT_MIN_BYTES ((uint64_t)4 << 10)
/* A candidate is the base when most elements keep their top byte (sign
 * and exponent) and the XOR planes' bound is below this share of the
 * samples' bound alone.  Measured (e2e.server_delta): the F32 fine-tune of
 * tests/data/family keeps 0.90 of its top bytes at a share of 0.88; a
 * look-alike (the base's values shuffled) 0.19 at 1.02; two faceapi
 * models of shared/data that share 7 of 8 layer names and shapes 0.04 at
 * 0.94, which the share alone would have taken for a fine-tune. */
#define DETECT_TOP_SAME 0.75
#define DETECT_PAYS 0.95

typedef struct detect_hit {
    char repo[200]; /* or a mirror's repo key */
    elves_fp128 fp;
    int64_t file_id;
    size_t seg; /* index in segs */
} detect_hit;

typedef struct detect_ctx {
    const char *job_repo;
    size_t seg;
    detect_hit *hits;
    size_t n, cap;
    es_err *err;
} detect_ctx;

/* A mirror's repo key ("model:org/name") names the repository it mirrors. */
static const char *key_repo(const char *key)
{
    const char *colon = strchr(key, ':');
    return colon ? colon + 1 : key;
}

static int detect_add(void *arg, const meta_base_candidate *c)
{
    detect_ctx *d = arg;
    if (strcmp(key_repo(c->repo), d->job_repo) == 0 || d->n == d->cap)
        return 0;
    detect_hit *h = &d->hits[d->n];
    if (es_unhex(h->fp.b, c->fingerprint, 16) < 0)
        return 0;
    snprintf(h->repo, sizeof h->repo, "%s", c->repo);
    h->file_id = c->file_id;
    h->seg = d->seg;
    d->n++;
    return 0;
}

static void shape_text(char *buf, size_t cap, const elves_segment *s)
{
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (uint32_t i = 0; i < s->ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%llu", i ? "," : "",
                              (unsigned long long)s->shape[i]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
}

/* The largest named tensors of the file, biggest first. */
static size_t detect_pick(const elves_segments *segs, size_t *pick)
{
    size_t n = 0;
    for (size_t i = 0; i < segs->count; i++) {
        const elves_segment *s = &segs->items[i];
        if (s->kind != ELVES_SEG_TENSOR || !s->name ||
            s->dtype == ELVES_DT_OPAQUE || s->length < DETECT_MIN_BYTES)
            continue;
        size_t k = n < DETECT_TENSORS ? n++ : DETECT_TENSORS;
        if (k == DETECT_TENSORS && s->length <= segs->items[pick[k - 1]].length)
            continue;
        if (k == DETECT_TENSORS)
            k--;
        while (k > 0 && segs->items[pick[k - 1]].length < s->length) {
            pick[k] = pick[k - 1];
            k--;
        }
        pick[k] = i;
    }
    return n;
}

/* The repository most hits name; *count the tensors of the new file it
 * matches.  Hits come segment by segment, each segment's by repository,
 * so a tensor that two of a repository's files share is counted once. */
static const char *detect_best(const detect_hit *hits, size_t n, size_t *count)
{
    const char *best = NULL;
    *count = 0;
    for (size_t i = 0; i < n; i++) {
        size_t c = 0;
        for (size_t j = 0; j < n; j++)
            c += strcmp(hits[i].repo, hits[j].repo) == 0 &&
                 !(j > 0 && hits[j - 1].seg == hits[j].seg &&
                   strcmp(hits[j - 1].repo, hits[j].repo) == 0);
        if (c > *count) {
            *count = c;
            best = hits[i].repo;
        }
    }
    return best;
}

/* Samples the middle of up to DETECT_SAMPLES hit tensors against their
 * base: 1 if delta coding pays. */
static int detect_pays(es_store *st, const detect_hit *hits, size_t n,
                       const char *repo, const elves_segments *segs,
                       const uint8_t *src, double *share, double *same)
{
    uint8_t *base = malloc(DETECT_SAMPLE);
    double xor_bits = 0, alone_bits = 0;
    size_t sampled = 0;
    uint64_t elements = 0, kept = 0;

    for (size_t i = 0; base && i < n && sampled < DETECT_SAMPLES; i++) {
        const elves_segment *s = &segs->items[hits[i].seg];
        unsigned esz = elves_dtype_bits(s->dtype) >= 8
                           ? elves_dtype_bits(s->dtype) / 8
                           : 1;
        size_t len =
            s->length < DETECT_SAMPLE ? (size_t)s->length : DETECT_SAMPLE;
        uint64_t off = (s->length - len) / 2 / esz * esz;
        if (strcmp(hits[i].repo, repo) != 0 ||
            st->base_src.read(st, &hits[i].fp, off, (uint32_t)len, base) != 0)
            continue;
        xor_bits +=
            elves_xor_entropy_bound(src + s->offset + off, base, len, s->dtype);
        for (size_t k = esz - 1; k < len; k += esz, elements++)
            kept += src[s->offset + off + k] == base[k];
        alone_bits += elves_entropy_bound(src + s->offset + off, len, s->dtype);
        sampled++;
    }
    free(base);
    *share = alone_bits > 0 ? xor_bits / alone_bits : 1;
    *same = elements ? (double)kept / (double)elements : 0;
    return sampled > 0 && *share < DETECT_PAYS && *same >= DETECT_TOP_SAME;
}

/* A base for a file that declares none: 1 with spec, 0 if none pays.
 * When it is a mirror's repository (spec a repo key), *nfiles of files
 * are its fetched file versions that hold the tensors matched. */
static int detect_base(es_store *st, int64_t job_id, const char *job_repo,
                       const elves_segments *segs, const uint8_t *src,
                       char spec[256], int64_t files[DETECT_TENSORS],
                       size_t *nfiles, es_err *err)
{
    size_t pick[DETECT_TENSORS], n = segs ? detect_pick(segs, pick) : 0;
    detect_hit hits[DETECT_TENSORS * DETECT_ROWS];
    detect_ctx d = {job_repo, 0, hits, 0, DETECT_TENSORS * DETECT_ROWS, err};
    meta_tx *tx;
    size_t count;
    double share = 1, same = 0;
    int rc = 0;

    if (n == 0)
        return 0;
    if (meta_begin(st->meta, META_READ, &tx, err) < 0)
        return -1;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const elves_segment *s = &segs->items[pick[i]];
        char shape[200];
        shape_text(shape, sizeof shape, s);
        d.seg = pick[i];
        rc = meta_base_candidate_each(tx, s->name, elves_dtype_name(s->dtype),
                                      shape, s->length, DETECT_ROWS, detect_add,
                                      &d, err);
    }
    if (meta_end(tx, rc, err) < 0)
        return -1;
    const char *best = detect_best(hits, d.n, &count);
    /* most of the tensors looked up must match the same repository */
    if (!best || count * 2 < n)
        return 0;
    int pays = detect_pays(st, hits, d.n, best, segs, src, &share, &same);
    fprintf(stderr,
            "elvesd: job %lld: base detection: %s matches %zu of %zu tensors, "
            "top byte kept %.2f, XOR bound %.2f of alone: %s\n",
            (long long)job_id, best, count, n, same, share,
            pays ? "delta-coded against it" : "coded alone");
    if (!pays)
        return 0;
    size_t len = strnlen(best, sizeof hits[0].repo - 1);
    memcpy(spec, best, len);
    spec[len] = 0;
    for (size_t i = 0; strchr(spec, ':') && i < d.n; i++) {
        size_t k = 0;
        while (k < *nfiles && files[k] != hits[i].file_id)
            k++;
        if (strcmp(hits[i].repo, spec) == 0 && k == *nfiles &&
            *nfiles < DETECT_TENSORS)
            files[(*nfiles)++] = hits[i].file_id;
    }
    return 1;
}

/* Inside tx: the root of the chain that starts at spec, and the commit of
 * it to code against. */
static int plan_root(meta_tx *tx, const char *job_repo, const char *spec_in,
                     char repo[256], char commit[41], es_err *err)
{
    char spec[256], rev[256], mode[16];
    int64_t repo_id;
    int rc = 1;

    snprintf(spec, sizeof spec, "%s", spec_in);
    for (int hop = 0; rc == 1; hop++) {
        split_spec(spec, repo, rev);
        if (hop == BASE_CHAIN_MAX || strcmp(repo, job_repo) == 0)
            return es_errf(err, 409, "the base chain of %s loops", job_repo);
        if (repo_find(tx, repo, &repo_id, mode, err) < 0)
            return -1;
        if (strcmp(mode, "lossless") != 0)
            return es_errf(err, 409, "base %s is not a lossless repository",
                           repo);
        char next[256];
        rc = meta_repo_base_get(tx, repo_id, next, err);
        if (rc == 1) /* the base has a base: go to the root */
            snprintf(spec, sizeof spec, "%s", next);
        else if (rc == 0)
            return resolve_rev(tx, repo_id, rev[0] ? rev : NULL, commit, err) <
                           0
                       ? -1
                       : 1;
    }
    return rc;
}

int base_plan_load(es_store *st, int64_t job_id, const elves_segments *segs,
                   const uint8_t *src, base_plan **out, es_err *err)
{
    base_plan *p;
    char commit[41], job_repo[200] = "", spec[256];
    int64_t files[DETECT_TENSORS];
    size_t nfiles = 0;
    meta_tx *tx;
    int rc;

    *out = NULL;
    rc = declared_base(st, job_id, job_repo, spec, err);
    if (rc == 0)
        rc = card_base(st, job_repo, spec);
    if (rc == 0 && job_repo[0])
        rc = detect_base(st, job_id, job_repo, segs, src, spec, files, &nfiles,
                         err);
    if (rc <= 0) /* no base; a failing database is the job's error */
        return rc < 0 && err->status >= 500 ? -1 : 0;
    p = calloc(1, sizeof *p);
    if (!p)
        return es_errf(err, 500, "out of memory");
    p->tensors = VEC_INIT(plan_tensor);
    if (meta_begin(st->meta, META_READ, &tx, err) < 0) {
        free(p);
        return -1;
    }
    plan_load l = {p, err};
    if (nfiles) { /* a mirrored base: the files of it the mirror holds */
        snprintf(p->repo, sizeof p->repo, "%s", spec);
        rc = 1;
        for (size_t i = 0; i < nfiles && rc == 1; i++)
            rc = meta_file_base_tensor_each(tx, files[i], plan_add, &l, err) < 0
                     ? -1
                     : 1;
    } else {
        rc = plan_root(tx, job_repo, spec, p->repo, commit, err);
        if (rc == 1)
            rc = meta_base_tensor_each(tx, commit, plan_add, &l, err) < 0 ? -1
                                                                          : 1;
    }
    rc = meta_end(tx, rc, err);
    if (rc <= 0) {
        base_plan_free(p);
        if (rc < 0 && err->status < 500) { /* code alone, say why */
            fprintf(stderr, "elvesd: job %lld: no delta coding: %s\n",
                    (long long)job_id, err->msg);
            return 0;
        }
        return rc;
    }
    qsort(p->tensors.items, p->tensors.n, sizeof(plan_tensor), cmp_plan);
    *out = p;
    return 0;
}

int base_plan_match(const base_plan *p, const elves_segment *seg,
                    const char *shape_json, int64_t *id, elves_fp128 *fp)
{
    plan_tensor key = {0};
    const plan_tensor *t;

    if (!p || !seg->name || seg->kind != ELVES_SEG_TENSOR)
        return 0;
    key.name = seg->name;
    t = bsearch(&key, p->tensors.items, p->tensors.n, sizeof(plan_tensor),
                cmp_plan);
    if (!t || t->raw_len != seg->length ||
        strcmp(t->dtype, elves_dtype_name(seg->dtype)) != 0 ||
        strcmp(t->shape, shape_json) != 0)
        return 0;
    *id = t->id;
    *fp = t->fp;
    return 1;
}
