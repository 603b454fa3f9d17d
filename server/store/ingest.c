/*
 * ingest.c - one compression job: a spooled file version becomes a
 * manifest of blocks in the chunk store.
 *
 *   1. whole-file dedup: a stored version with the same upload SHA-256
 *      (any repository) lends its manifest and nothing is compressed; it
 *      must have the same mode, or be lossless (exact bytes are within any
 *      ELF bound), never ELF-decoded bytes for a lossless repository;
 *   2. else the spool file is mapped and segmented by the core, and the
 *      segments grouped into units (runs of small tensors are coded as
 *      one); each tensor unit is fingerprinted and, if the tensors table
 *      has it, its blocks are referenced; other units and new tensors are
 *      encoded block by block straight into the chunk store, a tensor
 *      that the repository's declared base has (same name, dtype, shape)
 *      delta-coded against it where that is smaller (base.c);
 *   3. the chunk store is synced, then every block is read back, decoded
 *      and checked: SHA-256 of the whole decoded file against the upload
 *      (lossless), or each value against the ELF bound (elf, where the
 *      served SHA-256 becomes the decoded file's);
 *   4. one transaction writes chunks, tensors, segments, blocks (the
 *      metadata backend counts the references) and state=stored; the spool
 *      file goes last.
 *
 * Memory stays bounded whatever the file size: the source is mapped and
 * walked in windows that are dropped (MADV_DONTNEED) once used, blocks are
 * encoded and verified a batch at a time, and only the block map (a few
 * dozen bytes per MiB) grows with the file.
 *
 * The job holds gc_lock shared from its first lookup to its commit, so the
 * tensors and chunks it found cannot be collected or moved meanwhile.
 */
#include "store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "metrics.h"

#define WINDOW ((uint64_t)64 << 20) /* source bytes touched before a drop */
#define VERIFY_BATCH 16             /* blocks decoded together */

/* One block of the manifest, in file order. */
typedef struct blk {
    uint64_t raw_offset; /* in the file */
    uint32_t raw_len;
    int64_t chunk_id; /* existing chunk, or 0 for new_chunks[new_idx] */
    size_t new_idx;
    chunk_loc loc; /* where to read it back for verification */
} blk;

typedef struct new_chunk {
    chunk_loc loc;
    uint32_t raw_len;
    int codec;
    int64_t id; /* once inserted */
} new_chunk;

/* What happens to one segment.  Segments are coded in units (see
 * elves_plan_units): a unit's first segment carries the unit's tensor row
 * and blocks, the other members name the same tensor row and have none. */
typedef struct seg_rec {
    const elves_segment *seg;  /* the file_segments row */
    const elves_segment *unit; /* the bytes coded: seg, or its whole unit */
    int member_of;             /* unit's first segment, or -1 */
    char codec[16];
    char fp[33];       /* TENSOR segments */
    int lossy;         /* some block written with ELF */
    int64_t tensor_id; /* existing tensor reused (> 0) */
    int dup_of;        /* earlier segment of this file with the same tensor */
    size_t first_blk, nblk;
    int64_t base_id;     /* delta coding: the base tensor, 0 if none */
    elves_fp128 base_fp; /* its fingerprint */
    size_t delta_blocks; /* blocks written as delta blocks */
    double alone_est;    /* order-0 bound of the tensor coded alone */
} seg_rec;

typedef struct ingest {
    es_store *st;
    int64_t job_id, file_id;
    int64_t attempt; /* the claim this run is (meta.h: job_owned) */
    _Atomic int64_t *progress;
    es_err *err;
    int stopped;
    int lost; /* the lease ran out and the job is another claim's now */
    int backend_failed; /* the chunk store or the database failed: err says how */

    /* the file row */
    char spool[80], mode_name[16], upload_sha[65];
    uint64_t size;
    elves_mode mode;

    /* the source */
    int fd;
    const uint8_t *src;
    elves_segments *segs;
    elves_unit *units;
    size_t nunits;

    base_plan *plan; /* the declared base's tensors, or NULL */

    /* the result */
    seg_rec *recs;
    vec blks;   /* of blk, in file order */
    vec chunks; /* of new_chunk, the blocks this job encoded */
    uint64_t new_bytes;
    char served_sha[65];
} ingest;

static unsigned cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

/* Drops source pages we are done with from our address space (they stay
 * in the page cache), so RSS does not grow with the file. */
static void drop_window(const ingest *in, uint64_t from, uint64_t to)
{
    long page = sysconf(_SC_PAGESIZE);
    uint64_t a = from / (uint64_t)page * (uint64_t)page;
    if (!in->src || to <= a)
        return;
    madvise((void *)(in->src + a), (size_t)(to - a), MADV_DONTNEED);
}

/* ---- transactions
 * --------------------------------------------------------------
 * A database that cannot begin or commit (gone, full, locked) may be back
 * soon, like a chunk store that fails: the job is worth another attempt. */

static int tx_begin(ingest *in, meta_mode mode, meta_tx **tx)
{
    if (meta_begin(in->st->meta, mode, tx, in->err) < 0) {
        in->backend_failed = 1;
        return -1;
    }
    return 0;
}

/* As meta_end. */
static int tx_end(ingest *in, meta_tx *tx, int rc)
{
    if (rc < 0) {
        meta_rollback(tx);
        return rc;
    }
    if (meta_commit(tx, in->err) < 0) {
        in->backend_failed = 1;
        return -1;
    }
    return rc;
}

/* ---- the file row
 * ------------------------------------------------------------ */

static int load_file(ingest *in)
{
    meta_tx *tx;
    meta_file_source f;
    if (tx_begin(in, META_READ, &tx) < 0)
        return -1;
    int rc = meta_file_source_get(tx, in->file_id, &f, in->err);
    if (rc == 0)
        rc = es_errf(in->err, 404, "file deleted before compression");
    if (tx_end(in, tx, rc) < 0)
        return -1;
    memcpy(in->spool, f.spool, sizeof in->spool);
    in->size = f.upload_size;
    memcpy(in->upload_sha, f.upload_sha256, sizeof in->upload_sha);
    memcpy(in->mode_name, f.mode, sizeof in->mode_name);
    if (!in->spool[0])
        return es_errf(in->err, 500, "file has no spool file");
    in->mode = strcmp(in->mode_name, "elf") == 0 ? ELVES_MODE_ELF
                                                 : ELVES_MODE_LOSSLESS;
    return 0;
}

/* ---- whole-file dedup
 * ------------------------------------------------------------ */

static int find_twin(ingest *in, int64_t *twin)
{
    meta_tx *tx;
    *twin = 0;
    if (tx_begin(in, META_READ, &tx) < 0)
        return -1;
    int rc = meta_file_twin_find(tx, in->upload_sha, in->mode_name, in->file_id,
                                 twin, in->err);
    return tx_end(in, tx, rc < 0 ? -1 : 0);
}

/* Fencing: a worker whose lease ran out (a pause longer than the lease)
 * while another process took the job over commits nothing. */
static int check_owned(ingest *in, meta_tx *tx)
{
    int owned = meta_job_owned(tx, in->job_id, in->attempt, in->err);
    if (owned == 0) {
        in->lost = 1;
        return es_errf(in->err, 409,
                       "lease lost: claim %lld of the job is no longer the "
                       "running one",
                       (long long)in->attempt);
    }
    return owned < 0 ? -1 : 0;
}

/* Returns 1 if the twin was gone (nothing done), 0 when linked. */
static int link_twin_tx(ingest *in, meta_tx *tx, int64_t twin)
{
    if (check_owned(in, tx) < 0)
        return -1;
    int rc = meta_file_link_twin(tx, in->file_id, twin, in->err);
    if (rc <= 0)
        return rc < 0 ? -1 : 1;
    return meta_job_done(tx, in->job_id, es_now(), in->err) < 0 ? -1 : 0;
}

/* 1 if the file was stored as a reference to its twin. */
static int try_whole_file_dedup(ingest *in)
{
    int64_t twin;
    if (find_twin(in, &twin) < 0)
        return -1;
    if (!twin)
        return 0;
    meta_tx *tx;
    if (tx_begin(in, META_WRITE, &tx) < 0)
        return -1;
    int rc = link_twin_tx(in, tx, twin);
    if (rc != 0) {
        meta_rollback(tx);
        return rc < 0 ? -1 : 0; /* twin gone or we were deleted: compress */
    }
    if (tx_end(in, tx, 0) < 0)
        return -1;
    atomic_store(in->progress, (int64_t)in->size);
    metrics_dedup_file();
    return 1;
}

/* ---- the source
 * --------------------------------------------------------------------- */

static int map_source(ingest *in)
{
    char path[4096];
    store_spool_path(in->st, in->spool, path, sizeof path);
    in->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (in->fd < 0 && errno == ENOENT && in->st->spool_remote) {
        /* uploaded through another replica: its copy is in the bucket */
        if (spool_remote_fetch(in->st, in->spool, in->size, in->err) < 0) {
            in->backend_failed = 1;
            return -1;
        }
        in->fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (in->fd < 0)
        return es_errf(in->err, 500, "open spool: %s", strerror(errno));
    struct stat stt;
    if (fstat(in->fd, &stt) < 0 || (uint64_t)stt.st_size != in->size)
        return es_errf(in->err, 500, "spool file has the wrong size");
    if (in->size == 0) {
        in->src = (const uint8_t *)"";
    } else {
        void *p = mmap(NULL, in->size, PROT_READ, MAP_SHARED, in->fd, 0);
        if (p == MAP_FAILED)
            return es_errf(in->err, 500, "mmap spool: %s", strerror(errno));
        in->src = p;
    }
    elves_error why = {0, ""};
    elves_segments *segs = NULL;
    /* Parsing touches headers only; the data pages come later. */
    int rc = elves_segment_file(&segs, in->src, in->size, &why);
    if (rc != 0)
        return es_errf(in->err, 500, "segmenting: %s", elves_strerror(rc));
    in->segs = segs;
    elves_error e = {0, ""};
    if (elves_plan_units(&in->units, &in->nunits, segs, in->src, &e) != 0)
        return es_errf(in->err, 500, "planning units: %s", e.msg);
    in->recs = calloc(segs->count ? segs->count : 1, sizeof *in->recs);
    if (!in->recs)
        return es_errf(in->err, 500, "out of memory");
    return 0;
}

static void unmap_source(ingest *in)
{
    if (in->src && in->size > 0)
        munmap((void *)in->src, in->size);
    if (in->fd >= 0)
        close(in->fd);
    elves_segments_free(in->segs);
    elves_units_free(in->units);
    free(in->recs);
    vec_free(&in->blks);
    vec_free(&in->chunks);
}

/* ---- fingerprints
 * ------------------------------------------------------------------ */

/* A tensor's fingerprint.  Tensors larger than a window hash window by
 * window (each a fingerprint of its bytes), then the list of window
 * fingerprints with the real dtype and shape, so a single huge tensor never
 * has to be resident at once.  Deterministic in (dtype, shape, bytes). */
static void tensor_fp(ingest *in, const elves_segment *seg, char out[33])
{
    const uint8_t *data = in->src + seg->offset;
    elves_fp128 fp;
    if (seg->length <= WINDOW) {
        elves_tensor_fingerprint(&fp, seg->dtype, seg->shape, seg->ndim, data,
                                 (size_t)seg->length);
        drop_window(in, seg->offset, seg->offset + seg->length);
        elves_fp128_hex(out, &fp);
        return;
    }
    size_t n = (size_t)((seg->length + WINDOW - 1) / WINDOW);
    elves_fp128 *parts = malloc(n * sizeof *parts);
    if (!parts) { /* fall back to the one-shot hash */
        elves_tensor_fingerprint(&fp, seg->dtype, seg->shape, seg->ndim, data,
                                 (size_t)seg->length);
        elves_fp128_hex(out, &fp);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t off = (uint64_t)i * WINDOW;
        uint64_t len = seg->length - off < WINDOW ? seg->length - off : WINDOW;
        uint64_t shape = len;
        elves_tensor_fingerprint(&parts[i], ELVES_DT_OPAQUE, &shape, 1,
                                 data + off, (size_t)len);
        drop_window(in, seg->offset + off, seg->offset + off + len);
    }
    elves_tensor_fingerprint(&fp, seg->dtype, seg->shape, seg->ndim,
                             (const uint8_t *)parts, n * sizeof *parts);
    free(parts);
    elves_fp128_hex(out, &fp);
}

/* ---- reusing stored tensors
 * ---------------------------------------------------------- */

typedef struct reuse_ctx {
    ingest *in;
    uint64_t base; /* file offset of the tensor */
} reuse_ctx;

static int add_tensor_block(void *arg, const meta_chunk_block *tb)
{
    reuse_ctx *c = arg;
    blk *b = vec_grow(&c->in->blks);
    if (!b)
        return es_errf(c->in->err, 500, "out of memory");
    b->raw_offset = c->base + tb->raw_offset;
    b->raw_len = tb->raw_len;
    b->chunk_id = tb->chunk.id;
    b->loc = (chunk_loc){tb->chunk.container, tb->chunk.offset,
                         tb->chunk.length, tb->chunk.checksum};
    return 0;
}

/* Looks the tensor up; if stored, appends its blocks.  1 = reused; 2 = it
 * has no reference and is not the one held (held_id): nothing appended. */
static int reuse_tx(ingest *in, meta_tx *tx, seg_rec *r, int64_t held_id)
{
    int rc =
        meta_tensor_find(tx, r->fp, r->unit->length, in->mode == ELVES_MODE_ELF,
                         &r->tensor_id, r->codec, in->err);
    if (rc <= 0 || (rc == 2 && r->tensor_id != held_id))
        return rc;
    reuse_ctx c = {in, r->unit->offset};
    rc =
        meta_tensor_block_each(tx, r->tensor_id, add_tensor_block, &c, in->err);
    return rc != 0 ? -1 : 1;
}

static int reuse_read(ingest *in, seg_rec *r, int64_t held_id)
{
    meta_tx *tx;
    if (tx_begin(in, META_READ, &tx) < 0)
        return -1;
    return tx_end(in, tx, reuse_tx(in, tx, r, held_id));
}

/* Restarts the grace period of an unreferenced tensor (meta.h:
 * tensor_hold).  1 = held, 0 = collected meanwhile. */
static int hold_tensor(ingest *in, int64_t tensor_id)
{
    meta_tx *tx;
    if (tx_begin(in, META_WRITE, &tx) < 0)
        return -1;
    return tx_end(in, tx, meta_tensor_hold(tx, tensor_id, in->err));
}

/* An unreferenced tensor is reused only once held: the gc_lock this job
 * holds keeps this process's GC away, but not another replica's, which
 * may be deleting that tensor's rows and chunks right now.  Held, it
 * outlives this job's commit by the grace period (gc.c); collected before
 * the hold, it is not found again and the data is stored anew.  1 =
 * reused, 0 = store it. */
static int reuse_stored_tensor(ingest *in, seg_rec *r)
{
    int rc = reuse_read(in, r, 0);
    if (rc == 2) {
        int64_t id = r->tensor_id;
        int held = hold_tensor(in, id);
        rc = held > 0 ? reuse_read(in, r, id) : held;
    }
    if (rc == 1) {
        metrics_dedup_tensor();
        return 1;
    }
    r->tensor_id = 0; /* not reused: insert_segment stores a new tensor */
    r->codec[0] = 0;
    return rc < 0 ? -1 : 0;
}

/* An earlier segment of this file with the same new tensor: copy its
 * blocks.  1 = done. */
static int reuse_own_tensor(ingest *in, size_t idx)
{
    seg_rec *r = &in->recs[idx];
    for (size_t i = 0; i < idx; i++) {
        seg_rec *o = &in->recs[i];
        if (!o->fp[0] || o->tensor_id || o->dup_of >= 0 ||
            strcmp(o->fp, r->fp) != 0 || o->unit->length != r->unit->length)
            continue;
        r->dup_of = (int)i;
        r->lossy = o->lossy;
        memcpy(r->codec, o->codec, sizeof r->codec);
        for (size_t k = 0; k < o->nblk; k++) {
            blk copy = VEC_AT(&in->blks, blk, o->first_blk + k);
            blk *b = vec_grow(&in->blks);
            if (!b)
                return es_errf(in->err, 500, "out of memory");
            *b = copy;
            b->raw_offset = copy.raw_offset - o->unit->offset + r->unit->offset;
        }
        return 1;
    }
    return 0;
}

/* ---- encoding
 * ---------------------------------------------------------------------- */

typedef struct sink_ctx {
    ingest *in;
    seg_rec *rec;
    uint64_t base; /* file offset of the window */
} sink_ctx;

static int put_block(void *arg, size_t index, uint64_t raw_offset,
                     uint32_t raw_len, const uint8_t *block, size_t block_len)
{
    sink_ctx *c = arg;
    ingest *in = c->in;
    (void)index;
    if (atomic_load(&in->st->stopping)) {
        in->stopped = 1;
        return 1;
    }
    elves_block_info info;
    if (elves_block_info_read(&info, block, block_len) != 0) {
        es_errf(in->err, 500, "encoder produced an unreadable block");
        return 1;
    }
    new_chunk *nc = vec_grow(&in->chunks);
    blk *b = nc ? vec_grow(&in->blks) : NULL;
    if (!b) {
        es_errf(in->err, 500, "out of memory");
        return 1;
    }
    if (chunkstore_put(&in->st->cs, block, block_len, &nc->loc, in->err) < 0) {
        in->backend_failed = 1;
        return 1;
    }
    nc->raw_len = raw_len;
    nc->codec = (int)info.codec;
    if (info.flags & ELVES_BLOCK_FLAG_LOSSY)
        c->rec->lossy = 1;
    if (info.codec == ELVES_CODEC_DELTA)
        c->rec->delta_blocks++;
    b->raw_offset = c->base + raw_offset;
    b->raw_len = raw_len;
    b->new_idx = in->chunks.n - 1;
    b->loc = nc->loc;
    in->new_bytes += block_len;
    atomic_fetch_add(in->progress, (int64_t)raw_len);
    return 0;
}

/* Encodes one unit window by window. */
static int encode_segment(ingest *in, seg_rec *r)
{
    const elves_segment *seg = r->unit;
    elves_encode_opts opts = ELVES_ENCODE_OPTS_INIT;
    opts.mode = in->mode;
    opts.threads = cpu_count();
    opts.base = &in->st->base_src;
    for (uint64_t off = 0; off < seg->length; off += WINDOW) {
        uint64_t len = seg->length - off < WINDOW ? seg->length - off : WINDOW;
        elves_segment part = *seg;
        sink_ctx ctx = {in, r, seg->offset + off};
        elves_codec codec;
        elves_error e = {0, ""};
        int rc = elves_encode_segment_delta(
            &codec, in->src + seg->offset + off, len, &part,
            r->base_id ? &r->base_fp : NULL, off, &opts, put_block, &ctx, &e);
        if (r->base_id) /* what stats count delta coding against */
            r->alone_est += elves_entropy_bound(in->src + seg->offset + off,
                                                (size_t)len, seg->dtype);
        drop_window(in, seg->offset + off, seg->offset + off + len);
        if (rc == ELVES_E_CALLBACK)
            return -1; /* in->err or in->stopped says why */
        if (rc != 0)
            return es_errf(in->err, 500, "encoding %s: %s",
                           seg->name ? seg->name : "a segment", e.msg);
        if (off == 0)
            snprintf(r->codec, sizeof r->codec, "%s", elves_codec_name(codec));
    }
    return 0;
}

static json_t *shape_json(const elves_segment *seg);

/* Delta coding: the base tensor of a unit of one tensor, if the plan has
 * one of the same name, dtype, shape and length. */
static void match_base(ingest *in, seg_rec *r, const elves_unit *u)
{
    json_t *shape;
    char *text;

    if (!in->plan || u->count != 1 || r->unit->dtype == ELVES_DT_OPAQUE)
        return;
    shape = shape_json(r->unit);
    text = json_dumps(shape, JSON_COMPACT);
    json_decref(shape);
    if (text && base_plan_match(in->plan, r->unit, text, &r->base_id,
                                &r->base_fp) != 1)
        r->base_id = 0;
    free(text);
}

static int process_unit(ingest *in, const elves_unit *u)
{
    size_t idx = u->first;
    seg_rec *r = &in->recs[idx];
    r->seg = &in->segs->items[idx];
    r->unit = &u->seg;
    r->member_of = -1;
    r->dup_of = -1;
    r->first_blk = in->blks.n;
    int rc = 0;
    if (r->unit->kind == ELVES_SEG_TENSOR && r->unit->length > 0) {
        tensor_fp(in, r->unit, r->fp);
        rc = reuse_own_tensor(in, idx);
        if (rc == 0)
            rc = reuse_stored_tensor(in, r);
        if (rc > 0)
            atomic_fetch_add(in->progress, (int64_t)r->unit->length);
    }
    if (rc == 0) {
        match_base(in, r, u);
        rc = encode_segment(in, r);
    }
    r->nblk = in->blks.n - r->first_blk;
    for (size_t k = 1; k < u->count; k++) {
        seg_rec *m = &in->recs[idx + k];
        m->seg = &in->segs->items[idx + k];
        m->unit = &u->seg;
        m->member_of = (int)idx;
        m->dup_of = -1;
        m->first_blk = in->blks.n;
    }
    return rc < 0 ? -1 : 0;
}

/* ---- verification
 * --------------------------------------------------------------------- */

/* ELF: every value of a lossy block within 2^-24 of the original, or
 * bit-identical. */
static int elf_close(const uint8_t *got, const uint8_t *want, size_t len)
{
    size_t n = len / 4;
    for (size_t i = 0; i < n; i++) {
        uint32_t a, b;
        memcpy(&a, got + 4 * i, 4);
        memcpy(&b, want + 4 * i, 4);
        if (a == b)
            continue;
        float x, y;
        memcpy(&x, &a, 4);
        memcpy(&y, &b, 4);
        if (!isfinite(x) || !isfinite(y) ||
            fabs((double)x - (double)y) > ldexp(1.0, -24))
            return 0;
    }
    return memcmp(got + 4 * n, want + 4 * n, len - 4 * n) == 0;
}

typedef struct verify_buf {
    uint8_t *enc[VERIFY_BATCH];
    uint8_t *dec[VERIFY_BATCH];
    size_t enc_cap[VERIFY_BATCH], dec_cap[VERIFY_BATCH];
} verify_buf;

static int ensure(uint8_t **p, size_t *cap, size_t need)
{
    if (*cap >= need)
        return 0;
    uint8_t *grown = realloc(*p, need ? need : 1);
    if (!grown)
        return -1;
    *p = grown;
    *cap = need;
    return 0;
}

static int fetch_batch(ingest *in, verify_buf *vb, size_t first, size_t n,
                       elves_decode_job *jobs)
{
    for (size_t i = 0; i < n; i++) {
        const blk *b = &VEC_AT(&in->blks, blk, first + i);
        if (ensure(&vb->enc[i], &vb->enc_cap[i], b->loc.length) < 0 ||
            ensure(&vb->dec[i], &vb->dec_cap[i], b->raw_len) < 0)
            return es_errf(in->err, 500, "out of memory");
        if (chunkstore_get(&in->st->cs, &b->loc, 0, b->loc.length, vb->enc[i],
                           in->err) < 0)
            return -1;
        jobs[i] = (elves_decode_job){vb->enc[i], b->loc.length, vb->dec[i],
                                     b->raw_len, &in->st->base_src};
    }
    return 0;
}

static int check_batch(ingest *in, verify_buf *vb, size_t first, size_t n,
                       elves_sha256_ctx *sha)
{
    for (size_t i = 0; i < n; i++) {
        const blk *b = &VEC_AT(&in->blks, blk, first + i);
        elves_sha256_update(sha, vb->dec[i], b->raw_len);
        if (in->mode != ELVES_MODE_ELF)
            continue;
        const uint8_t *orig = in->src + b->raw_offset;
        elves_block_info info;
        elves_block_info_read(&info, vb->enc[i], b->loc.length);
        int ok = (info.flags & ELVES_BLOCK_FLAG_LOSSY)
                     ? elf_close(vb->dec[i], orig, b->raw_len)
                     : memcmp(vb->dec[i], orig, b->raw_len) == 0;
        drop_window(in, b->raw_offset, b->raw_offset + b->raw_len);
        if (!ok)
            return es_errf(in->err, 500,
                           "verification failed at byte %llu: decoded block "
                           "differs from the upload",
                           (unsigned long long)b->raw_offset);
    }
    return 0;
}

static int verify_blocks(ingest *in, elves_sha256_ctx *sha, verify_buf *vb)
{
    unsigned threads = cpu_count();
    for (size_t first = 0; first < in->blks.n; first += VERIFY_BATCH) {
        size_t n = in->blks.n - first < VERIFY_BATCH ? in->blks.n - first
                                                     : VERIFY_BATCH;
        elves_decode_job jobs[VERIFY_BATCH];
        elves_error e = {0, ""};
        if (fetch_batch(in, vb, first, n, jobs) < 0)
            return -1;
        if (elves_decode_blocks(jobs, n, threads, &e) != 0)
            return es_errf(in->err, 500, "verification: %s", e.msg);
        if (check_batch(in, vb, first, n, sha) < 0)
            return -1;
        if (atomic_load(&in->st->stopping)) {
            in->stopped = 1;
            return -1;
        }
    }
    return 0;
}

/* Reads every block back from the chunk store and checks it. */
static int verify(ingest *in)
{
    elves_sha256_ctx *sha;
    if (elves_sha256_new(&sha) != 0)
        return es_errf(in->err, 500, "out of memory");
    verify_buf vb;
    memset(&vb, 0, sizeof vb);
    int rc = verify_blocks(in, sha, &vb);
    for (size_t i = 0; i < VERIFY_BATCH; i++) {
        free(vb.enc[i]);
        free(vb.dec[i]);
    }
    uint8_t digest[32];
    elves_sha256_final(sha, digest);
    elves_sha256_free(sha);
    if (rc < 0)
        return -1;
    elves_hex(in->served_sha, digest, 32);
    if (in->mode != ELVES_MODE_ELF &&
        strcmp(in->served_sha, in->upload_sha) != 0)
        return es_errf(in->err, 500,
                       "verification failed: decoded SHA-256 %s differs from "
                       "the upload's",
                       in->served_sha);
    return 0;
}

/* ---- the commit
 * ------------------------------------------------------------------------ */

static int insert_chunks(ingest *in, meta_tx *tx)
{
    for (size_t i = 0; i < in->chunks.n; i++) {
        new_chunk *c = &VEC_AT(&in->chunks, new_chunk, i);
        meta_chunk_new row = {c->loc.container, c->loc.offset, c->loc.length,
                              c->loc.checksum,  c->raw_len,    c->codec};
        if (meta_chunk_insert(tx, &row, &c->id, in->err) < 0)
            return -1;
    }
    for (size_t i = 0; i < in->blks.n; i++) {
        blk *b = &VEC_AT(&in->blks, blk, i);
        if (!b->chunk_id)
            b->chunk_id = VEC_AT(&in->chunks, new_chunk, b->new_idx).id;
    }
    return 0;
}

static json_t *shape_json(const elves_segment *seg)
{
    json_t *a = json_array();
    for (uint32_t i = 0; i < seg->ndim; i++)
        json_array_append_new(a, json_integer((json_int_t)seg->shape[i]));
    return a;
}

/* Inserts the tensor row.  If a concurrent job stored the same tensor
 * first, this segment stays unlinked (tensor_id 0): its blocks are our own
 * chunks, and a tensor row must only be named by files that hold its
 * chunks, or freeing the other file would strand the tensor's blocks. */
static int insert_tensor(ingest *in, meta_tx *tx, seg_rec *r, int *created)
{
    json_t *shape = shape_json(r->unit);
    char *shape_text = json_dumps(shape, JSON_COMPACT);
    json_decref(shape);
    meta_tensor_new t = {r->fp,
                         r->lossy,
                         elves_dtype_name(r->unit->dtype),
                         shape_text ? shape_text : "[]",
                         r->unit->length,
                         r->codec,
                         r->delta_blocks ? r->base_id : 0,
                         r->delta_blocks ? (uint64_t)r->alone_est : 0};
    int rc = meta_tensor_insert(tx, &t, &r->tensor_id, in->err);
    free(shape_text);
    if (rc < 0)
        return -1;
    *created = rc;
    return 0;
}

static int insert_tensor_blocks(ingest *in, meta_tx *tx, const seg_rec *r)
{
    for (size_t k = 0; k < r->nblk; k++) {
        const blk *b = &VEC_AT(&in->blks, blk, r->first_blk + k);
        meta_block row = {(int64_t)k, b->raw_offset - r->unit->offset,
                          b->raw_len, b->chunk_id};
        if (meta_tensor_block_add(tx, r->tensor_id, &row, in->err) < 0)
            return -1;
    }
    return 0;
}

static int insert_segment(ingest *in, meta_tx *tx, size_t idx)
{
    seg_rec *r = &in->recs[idx];
    if (r->member_of >= 0) { /* coded in its unit's tensor */
        const seg_rec *lead = &in->recs[r->member_of];
        r->tensor_id = lead->tensor_id;
        memcpy(r->codec, lead->codec, sizeof r->codec);
    } else if (r->fp[0] && !r->tensor_id) {
        if (r->dup_of >= 0) {
            r->tensor_id = in->recs[r->dup_of].tensor_id;
        } else {
            int created;
            if (insert_tensor(in, tx, r, &created) < 0 ||
                (created && insert_tensor_blocks(in, tx, r) < 0))
                return -1;
        }
    }
    meta_segment row = {(int64_t)idx,
                        elves_seg_kind_name(r->seg->kind),
                        r->seg->name,
                        elves_dtype_name(r->seg->dtype),
                        r->seg->offset,
                        r->seg->length,
                        r->codec[0] ? r->codec : NULL,
                        r->tensor_id};
    return meta_segment_add(tx, in->file_id, &row, in->err);
}

static int insert_blocks(ingest *in, meta_tx *tx)
{
    for (size_t i = 0; i < in->blks.n; i++) {
        const blk *b = &VEC_AT(&in->blks, blk, i);
        meta_block row = {(int64_t)i, b->raw_offset, b->raw_len, b->chunk_id};
        if (meta_block_add(tx, in->file_id, &row, in->err) < 0)
            return -1;
    }
    return 0;
}

static const char *format_name(elves_format f)
{
    return f == ELVES_FMT_SAFETENSORS ? "safetensors"
           : f == ELVES_FMT_GGUF      ? "gguf"
                                      : "opaque";
}

static int mark_stored(ingest *in, meta_tx *tx)
{
    int rc =
        meta_file_stored(tx, in->file_id, in->served_sha,
                         format_name(in->segs->format), in->new_bytes, in->err);
    if (rc == 0)
        return es_errf(in->err, 404, "file deleted while compressing");
    return rc < 0 ? -1 : 0;
}

static int commit_tx(ingest *in, meta_tx *tx)
{
    if (check_owned(in, tx) < 0 || mark_stored(in, tx) < 0 ||
        insert_chunks(in, tx) < 0)
        return -1;
    for (size_t i = 0; i < in->segs->count; i++)
        if (insert_segment(in, tx, i) < 0)
            return -1;
    if (insert_blocks(in, tx) < 0)
        return -1;
    return meta_job_done(tx, in->job_id, es_now(), in->err);
}

static int commit_manifest(ingest *in)
{
    meta_tx *tx;
    if (tx_begin(in, META_WRITE, &tx) < 0)
        return -1;
    return tx_end(in, tx, commit_tx(in, tx));
}

/* ---- the job
 * ----------------------------------------------------------------------------
 */

static int compress(ingest *in)
{
    if (map_source(in) < 0)
        return -1;
    if (base_plan_load(in->st, in->job_id, in->segs, in->src, &in->plan,
                       in->err) < 0) {
        in->backend_failed = 1;
        return -1;
    }
    for (size_t i = 0; i < in->nunits; i++) {
        if (atomic_load(&in->st->stopping)) {
            in->stopped = 1;
            return -1;
        }
        if (process_unit(in, &in->units[i]) < 0)
            return -1;
    }
    /* Nothing is referenced before its bytes are durable. */
    if (chunkstore_sync(&in->st->cs, in->err) < 0) {
        in->backend_failed = 1;
        return -1;
    }
    if (verify(in) < 0)
        return -1;
    return commit_manifest(in);
}

static void remove_spool(ingest *in)
{
    spool_remove(in->st, in->spool);
}

int ingest_file(es_store *st, int64_t job_id, int64_t attempt,
                int64_t file_id, _Atomic int64_t *progress, es_err *err)
{
    ingest in;
    memset(&in, 0, sizeof in);
    in.st = st;
    in.job_id = job_id;
    in.attempt = attempt;
    in.file_id = file_id;
    in.progress = progress;
    in.err = err;
    in.fd = -1;
    in.blks = VEC_INIT(blk);
    in.chunks = VEC_INIT(new_chunk);
    if (load_file(&in) < 0)
        return in.backend_failed && err->status >= 500 ? INGEST_RETRY
                                                       : INGEST_FAILED;
    pthread_rwlock_rdlock(&st->gc_lock);
    int rc = try_whole_file_dedup(&in);
    if (rc == 0)
        rc = compress(&in) < 0 ? -1 : 1;
    pthread_rwlock_unlock(&st->gc_lock);
    base_plan_free(in.plan);
    unmap_source(&in);
    if (rc > 0) {
        remove_spool(&in);
        return INGEST_OK;
    }
    if (in.stopped)
        return INGEST_STOPPED;
    if (in.lost)
        return INGEST_LOST;
    /* A chunk store that could not take or sync the bytes (5xx), or a
     * database that could not begin or commit, may be back soon: the job
     * is worth another attempt, which re-encodes from the spool (jobs.c
     * counts and spaces the attempts). */
    return in.backend_failed && err->status >= 500 ? INGEST_RETRY
                                                   : INGEST_FAILED;
}
