/*
 * encode.c - segments to blocks and back: elves_encode_segment (blocks
 * encoded in parallel, delivered in order), elves_decode_blocks, the block
 * map search (elves_blocks_cover) and random access (elves_decode_range).
 *
 * Threads: a call that is given threads > 1 starts a small pool of
 * threads-1 helpers for the duration of the call and joins it before
 * returning; the calling thread works too.  Work is handed out in batches
 * of `threads` blocks, two batches in flight: one being encoded (decoded)
 * by the pool while the caller hands the previous one to the sink (fetches
 * the next one).  Memory in flight is thus about 2 x threads blocks,
 * whatever the segment or range size.  Callbacks (sink, fetch) are only
 * ever called on the calling thread, in order, so callers need no locking.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "codecs.h"
#include "internal.h"

/* More helpers than this would only add contention. */
#define ES_MAX_THREADS 256u

/* ------------------------------------------------------------------------ */
/* A per-call thread pool running batches of independent tasks              */
/* ------------------------------------------------------------------------ */

/* One task of a batch; returns 0 or an elves_status (message in err). */
typedef int (*es_task_fn)(void *arg, size_t i, elves_error *err);

typedef struct es_pool {
    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* helpers wait here for a batch or quit */
    pthread_cond_t idle_cv; /* the caller waits here for the batch's end */
    pthread_t *helpers;
    unsigned nhelpers;
    es_task_fn fn;
    void *arg;
    size_t n;         /* tasks in the current batch */
    size_t next;      /* next task to hand out */
    size_t running;   /* tasks handed out and not finished */
    size_t err_index; /* lowest failed task, SIZE_MAX if none */
    int err_rc;
    elves_error err;
    int quit;
} es_pool;

/* Hands out the next task (lock held).  Tasks after a failed one are
 * skipped: the batch reports its lowest failing task and nothing after it
 * matters. */
static int pool_claim(es_pool *p, size_t *i)
{
    if (p->next >= p->n || p->next > p->err_index)
        return 0;
    *i = p->next++;
    p->running++;
    return 1;
}

/* Runs task i with the lock released; called and returns with it held. */
static void pool_exec(es_pool *p, size_t i)
{
    es_task_fn fn = p->fn;
    void *arg = p->arg;
    elves_error e = {0, ""};

    pthread_mutex_unlock(&p->mu);
    int rc = fn(arg, i, &e);
    pthread_mutex_lock(&p->mu);
    if (rc && i < p->err_index) {
        p->err_index = i;
        p->err_rc = rc;
        p->err = e;
    }
    p->running--;
    if (p->running == 0 && (p->next >= p->n || p->next > p->err_index))
        pthread_cond_signal(&p->idle_cv);
}

static void *pool_helper(void *arg)
{
    es_pool *p = arg;
    size_t i;

    pthread_mutex_lock(&p->mu);
    while (!p->quit) {
        if (pool_claim(p, &i))
            pool_exec(p, i);
        else
            pthread_cond_wait(&p->work_cv, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Starts threads-1 helpers (fewer if the system refuses: the caller's
 * thread alone still completes every batch). */
static int pool_start(es_pool *p, unsigned threads, elves_error *err)
{
    memset(p, 0, sizeof *p);
    if (pthread_mutex_init(&p->mu, NULL))
        return es_fail(err, ELVES_E_NOMEM, "cannot create a mutex");
    if (pthread_cond_init(&p->work_cv, NULL)) {
        pthread_mutex_destroy(&p->mu);
        return es_fail(err, ELVES_E_NOMEM, "cannot create a condition");
    }
    if (pthread_cond_init(&p->idle_cv, NULL)) {
        pthread_cond_destroy(&p->work_cv);
        pthread_mutex_destroy(&p->mu);
        return es_fail(err, ELVES_E_NOMEM, "cannot create a condition");
    }
    if (threads > ES_MAX_THREADS)
        threads = ES_MAX_THREADS;
    if (threads > 1)
        p->helpers = malloc((threads - 1) * sizeof *p->helpers);
    for (unsigned t = 0; p->helpers && t + 1 < threads; t++) {
        if (pthread_create(&p->helpers[t], NULL, pool_helper, p))
            break;
        p->nhelpers++;
    }
    return ELVES_OK;
}

static void pool_stop(es_pool *p)
{
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
    for (unsigned t = 0; t < p->nhelpers; t++)
        pthread_join(p->helpers[t], NULL);
    free(p->helpers);
    pthread_cond_destroy(&p->idle_cv);
    pthread_cond_destroy(&p->work_cv);
    pthread_mutex_destroy(&p->mu);
}

/* Publishes tasks 0..n-1 of a batch; helpers start on them at once, the
 * caller joins in at pool_wait.  One batch at a time. */
static void pool_submit(es_pool *p, es_task_fn fn, void *arg, size_t n)
{
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    p->next = 0;
    p->running = 0;
    p->err_index = SIZE_MAX;
    if (p->nhelpers)
        pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
}

/* Works on the submitted batch until it is finished; returns the error of
 * its lowest-numbered failing task, if any. */
static int pool_wait(es_pool *p, elves_error *err)
{
    size_t i;
    int rc = ELVES_OK;

    pthread_mutex_lock(&p->mu);
    while (pool_claim(p, &i))
        pool_exec(p, i);
    while (p->running)
        pthread_cond_wait(&p->idle_cv, &p->mu);
    if (p->err_index != SIZE_MAX) {
        rc = p->err_rc;
        if (err)
            *err = p->err;
    }
    p->n = 0;
    p->next = 0;
    p->err_index = SIZE_MAX;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static unsigned clamp_threads(unsigned threads, size_t tasks)
{
    if (threads < 1)
        threads = 1;
    if (threads > ES_MAX_THREADS)
        threads = ES_MAX_THREADS;
    if (tasks < threads)
        threads = tasks ? (unsigned)tasks : 1;
    return threads;
}

/* Decoding runs at 1-3 GB/s a thread, so starting and joining a helper
 * thread (tens of microseconds) and handing blocks over costs more than it
 * saves below about a MiB of output per thread: the shared checkpoints
 * (0.1-4.7 MB, blocks of a few kB) decoded at half the one-thread speed
 * on two. */
#define DECODE_BYTES_PER_THREAD ((uint64_t)1 << 20)

static unsigned clamp_decode_threads(unsigned threads, size_t tasks,
                                     uint64_t bytes)
{
    uint64_t most = bytes / DECODE_BYTES_PER_THREAD + 1;
    threads = clamp_threads(threads, tasks);
    return most < threads ? (unsigned)most : threads;
}

/* ------------------------------------------------------------------------ */
/* Encoding a segment                                                       */
/* ------------------------------------------------------------------------ */

typedef struct encode_batch {
    const uint8_t *src;
    uint64_t len;
    uint32_t block_size;
    elves_dtype dtype;
    elves_codec codec;
    size_t first;     /* segment block number of task 0 */
    size_t per_batch; /* most blocks in a batch */
    unsigned threads; /* blocks per batch (the last may have fewer) */
    uint8_t *bufs;    /* one slot of `cap` bytes per task */
    size_t cap;
    size_t *sizes; /* encoded size per task */
    /* Delta coding: the base tensor, where its bytes are read, and one
     * block_size slot per task for them. */
    const elves_fp128 *base_fp;
    uint64_t base_offset; /* of src in the tensor */
    const elves_base_src *base;
    uint8_t *base_bufs;
} encode_batch;

static uint32_t block_raw_len(uint64_t len, uint32_t block_size, size_t b)
{
    uint64_t off = (uint64_t)b * block_size;
    uint64_t left = len - off;
    return left < block_size ? (uint32_t)left : block_size;
}

static int encode_task(void *arg, size_t i, elves_error *err)
{
    encode_batch *bt = arg;
    size_t b = bt->first + i;
    uint64_t off = (uint64_t)b * bt->block_size;
    uint32_t n = block_raw_len(bt->len, bt->block_size, b);
    elves_delta d;

    if (!bt->base_fp)
        return elves_block_encode(&bt->sizes[i], bt->bufs + i * bt->cap,
                                  bt->cap, bt->src + off, n, bt->dtype,
                                  bt->codec, err);
    uint8_t *base = bt->base_bufs + i * (size_t)bt->block_size;
    d.fp = *bt->base_fp;
    d.offset = bt->base_offset + off;
    d.base = base;
    if (bt->base->read(bt->base->ctx, &d.fp, d.offset, n, base)) {
        char hex[33];
        elves_fp128_hex(hex, &d.fp);
        return es_fail(err, ELVES_E_BASE,
                       "encode: base tensor %s (bytes %llu+%u) not available",
                       hex, (unsigned long long)d.offset, (unsigned)n);
    }
    return elves_block_encode_delta(&bt->sizes[i], bt->bufs + i * bt->cap,
                                    bt->cap, bt->src + off, n, bt->dtype,
                                    bt->codec, &d, err);
}

/* The codec and the dtype blocks are coded as: chosen per tensor, ZSTD for
 * headers, padding, opaque data and empty segments. */
static int pick_codec(encode_batch *bt, const elves_segment *seg,
                      elves_mode mode, elves_error *err)
{
    bt->codec = ELVES_CODEC_ZSTD;
    bt->dtype = ELVES_DT_OPAQUE;
    if (!seg || seg->kind != ELVES_SEG_TENSOR ||
        seg->dtype == ELVES_DT_OPAQUE ||
        (unsigned)seg->dtype >= ELVES_DT_COUNT || bt->len == 0)
        return ELVES_OK;
    bt->dtype = seg->dtype;
    int rc = elves_choose_codec(&bt->codec, bt->src, (size_t)bt->len,
                                seg->dtype, mode);
    if (rc)
        return es_fail(err, rc, "choosing a codec for %s failed: %s",
                       seg->name ? seg->name : "a tensor", elves_strerror(rc));
    return ELVES_OK;
}

static int check_encode_args(const uint8_t *src, uint64_t len,
                             const elves_encode_opts *o, elves_block_sink sink,
                             elves_error *err)
{
    if (!sink || (!src && len))
        return es_fail(err, ELVES_E_INVALID, "encode: missing %s",
                       sink ? "source bytes" : "block sink");
    if (len > SIZE_MAX)
        return es_fail(err, ELVES_E_INVALID, "encode: segment too large");
    if ((unsigned)o->mode > ELVES_MODE_ELF)
        return es_fail(err, ELVES_E_INVALID, "encode: unknown mode %d",
                       (int)o->mode);
    if (o->block_size > ELVES_MAX_BLOCK_SIZE)
        return es_fail(err, ELVES_E_INVALID,
                       "encode: block size %u above the maximum %u",
                       (unsigned)o->block_size, (unsigned)ELVES_MAX_BLOCK_SIZE);
    return ELVES_OK;
}

static size_t batch_count(const encode_batch *bt, size_t nblocks)
{
    return nblocks - bt->first < bt->per_batch ? nblocks - bt->first
                                               : bt->per_batch;
}

static int sink_batch(const encode_batch *bt, size_t nblocks,
                      elves_block_sink sink, void *ctx, elves_error *err)
{
    for (size_t i = 0; i < batch_count(bt, nblocks); i++) {
        size_t b = bt->first + i;
        if (sink(ctx, b, (uint64_t)b * bt->block_size,
                 block_raw_len(bt->len, bt->block_size, b),
                 bt->bufs + i * bt->cap, bt->sizes[i]))
            return es_fail(err, ELVES_E_CALLBACK,
                           "block sink failed at block %zu", b);
    }
    return ELVES_OK;
}

/* Encodes batch after batch, two batches in flight: while the helpers
 * encode batch k+1 into one buffer set, the caller hands batch k's blocks
 * to sink from the other, then joins the encoding. */
static int encode_batches(encode_batch bt[2], size_t nblocks, es_pool *pool,
                          elves_block_sink sink, void *ctx, elves_error *err)
{
    size_t per = bt[0].per_batch;
    size_t nbatches = (nblocks + per - 1) / per;
    int rc;

    bt[0].first = 0;
    pool_submit(pool, encode_task, &bt[0], batch_count(&bt[0], nblocks));
    for (size_t k = 0; k < nbatches; k++) {
        encode_batch *cur = &bt[k % 2], *nxt = &bt[(k + 1) % 2];
        rc = pool_wait(pool, err);
        if (rc)
            return rc;
        if (k + 1 < nbatches) {
            nxt->first = (k + 1) * per;
            pool_submit(pool, encode_task, nxt, batch_count(nxt, nblocks));
        }
        rc = sink_batch(cur, nblocks, sink, ctx, err);
        if (rc) {
            pool_wait(pool, NULL); /* its buffers are freed next */
            return rc;
        }
    }
    return ELVES_OK;
}

/* Buffers for the batches in flight: one set with a single thread, else
 * two sets of `threads` blocks (one being encoded, one being sunk).  They
 * come from the calling thread's kept context when there is one, so that
 * a file of many segments does not map and fault in fresh buffers for
 * each (that cost 5% of the encode time on the shared checkpoints);
 * *owned is set when they were malloc'd instead. */
static int encode_alloc(encode_batch bt[2], unsigned threads, size_t nblocks,
                        es_stream_ctx *sc, int *owned, elves_error *err)
{
    size_t per = threads < nblocks ? threads : nblocks;
    size_t sets = threads > 1 ? 2 : 1;
    size_t cap =
        elves_block_bound(block_raw_len(bt[0].len, bt[0].block_size, 0));
    size_t sizes_off, base_off, total;

    /* Block slots first, then the size array, aligned for size_t, then
     * the base slots of delta coding. */
    cap = (cap + 15) & ~(size_t)15;
    sizes_off = sets * per * cap;
    base_off = sizes_off + sets * per * sizeof(size_t);
    total = base_off + (bt[0].base_fp ? sets * per * bt[0].block_size : 0);
    bt[0].per_batch = per;
    bt[0].cap = cap;
    *owned = sc == NULL;
    bt[0].bufs = sc ? es_scratch(sc, ES_SCRATCH_SEGMENT, total) : malloc(total);
    if (!bt[0].bufs)
        return es_fail(err, ELVES_E_NOMEM, "encode: no memory for %zu blocks",
                       sets * per);
    bt[0].sizes = (size_t *)(void *)(bt[0].bufs + sizes_off);
    bt[0].base_bufs = bt[0].base_fp ? bt[0].bufs + base_off : NULL;
    bt[1] = bt[0];
    if (sets == 2) {
        bt[1].bufs += per * cap;
        bt[1].sizes += per;
        if (bt[1].base_bufs)
            bt[1].base_bufs += per * bt[0].block_size;
    }
    return ELVES_OK;
}

int elves_encode_segment(elves_codec *codec_out, const uint8_t *src,
                         uint64_t len, const elves_segment *seg,
                         const elves_encode_opts *opts, elves_block_sink sink,
                         void *ctx, elves_error *err)
{
    return elves_encode_segment_delta(codec_out, src, len, seg, NULL, 0, opts,
                                      sink, ctx, err);
}

int elves_encode_segment_delta(elves_codec *codec_out, const uint8_t *src,
                               uint64_t len, const elves_segment *seg,
                               const elves_fp128 *base_fp,
                               uint64_t base_offset,
                               const elves_encode_opts *opts,
                               elves_block_sink sink, void *ctx,
                               elves_error *err)
{
    elves_encode_opts o = ELVES_ENCODE_OPTS_INIT;
    encode_batch bt[2] = {{.src = src, .len = len}};
    es_pool pool;
    int rc;

    if (opts)
        o = *opts;
    rc = check_encode_args(src, len, &o, sink, err);
    if (rc)
        return rc;
    if (base_fp && (!o.base || !o.base->read))
        return es_fail(err, ELVES_E_INVALID,
                       "encode: a base tensor but no base source");
    bt[0].base_fp = base_fp;
    bt[0].base_offset = base_offset;
    bt[0].base = o.base;
    bt[0].block_size = o.block_size ? o.block_size : ELVES_DEFAULT_BLOCK_SIZE;
    rc = pick_codec(&bt[0], seg, o.mode, err);
    if (rc)
        return rc;
    if (codec_out)
        *codec_out = bt[0].codec;
    if (len == 0)
        return ELVES_OK;

    size_t nblocks = (size_t)((len + bt[0].block_size - 1) / bt[0].block_size);
    unsigned threads = clamp_threads(o.threads, nblocks);
    es_stream_ctx *sc = es_thread_ctx();
    int owned = 0;
    if (sc && sc->segment_busy)
        sc = NULL; /* called from a sink of an outer segment */
    if (sc)
        sc->segment_busy = 1;
    rc = encode_alloc(bt, threads, nblocks, sc, &owned, err);
    if (!rc)
        rc = pool_start(&pool, threads, err);
    if (!rc) {
        rc = encode_batches(bt, nblocks, &pool, sink, ctx, err);
        pool_stop(&pool);
    }
    if (owned)
        free(bt[0].bufs);
    if (sc) {
        sc->segment_busy = 0;
        es_stream_ctx_trim_segment(sc);
    }
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Decoding independent blocks                                              */
/* ------------------------------------------------------------------------ */

static int decode_task(void *arg, size_t i, elves_error *err)
{
    const elves_decode_job *j = (const elves_decode_job *)arg + i;
    size_t got;

    return elves_block_decode_base(&got, j->dst, j->dst_cap, j->block,
                                   j->block_len, j->base, err);
}

int elves_decode_blocks(const elves_decode_job *jobs, size_t n,
                        unsigned threads, elves_error *err)
{
    es_pool pool;
    int rc;

    if (!jobs && n)
        return es_fail(err, ELVES_E_INVALID, "decode: no jobs");
    if (n == 0)
        return ELVES_OK;
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += jobs[i].dst_cap;
    rc = pool_start(&pool, clamp_decode_threads(threads, n, bytes), err);
    if (rc)
        return rc;
    pool_submit(&pool, decode_task, (void *)jobs, n);
    rc = pool_wait(&pool, err);
    pool_stop(&pool);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Block maps                                                               */
/* ------------------------------------------------------------------------ */

/* Largest i with blocks[i].raw_offset <= pos, or n if there is none. */
static size_t find_block(const elves_block_ref *blocks, size_t n, uint64_t pos)
{
    size_t lo = 0, hi = n; /* answer in [lo-1, hi) */

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (blocks[mid].raw_offset <= pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo ? lo - 1 : n;
}

/* The covering blocks [b, e] must be non-empty and follow each other with
 * no gap or overlap; a map that breaks this is corrupt, whatever it says
 * elsewhere. */
static int check_tiling(const elves_block_ref *blocks, size_t b, size_t e)
{
    for (size_t k = b; k <= e; k++) {
        uint64_t end = blocks[k].raw_offset + blocks[k].raw_len;
        if (blocks[k].raw_len == 0 || end < blocks[k].raw_offset)
            return ELVES_E_CORRUPT;
        if (k < e && blocks[k + 1].raw_offset != end)
            return ELVES_E_CORRUPT;
    }
    return ELVES_OK;
}

int elves_blocks_cover(size_t *out_begin, size_t *out_end,
                       const elves_block_ref *blocks, size_t n, uint64_t first,
                       uint64_t last)
{
    if (!out_begin || !out_end || (!blocks && n))
        return ELVES_E_INVALID;
    if (first > last || n == 0)
        return ELVES_E_RANGE;
    const elves_block_ref *tail = &blocks[n - 1];
    uint64_t size = tail->raw_offset + tail->raw_len;
    if (size < tail->raw_offset)
        return ELVES_E_CORRUPT;
    if (last >= size)
        return ELVES_E_RANGE;

    size_t b = find_block(blocks, n, first);
    size_t e = find_block(blocks, n, last);
    if (b == n || e == n || e < b || check_tiling(blocks, b, e))
        return ELVES_E_CORRUPT;
    if (first - blocks[b].raw_offset >= blocks[b].raw_len ||
        last - blocks[e].raw_offset >= blocks[e].raw_len)
        return ELVES_E_CORRUPT; /* a gap holds first or last */
    *out_begin = b;
    *out_end = e + 1;
    return ELVES_OK;
}

/* ------------------------------------------------------------------------ */
/* Random access                                                            */
/* ------------------------------------------------------------------------ */

/* One batch of covering blocks [b0, b1): their fetched bytes, back to
 * back, and their decode jobs. */
typedef struct range_set {
    size_t b0, b1;
    uint8_t *enc;
    size_t enc_cap;
    elves_decode_job *jobs;
} range_set;

/* Where the blocks come from: fetch(ctx, ...) into a buffer, or, when
 * mem is set, where they lie in memory. */
typedef struct range_src {
    elves_fetch_fn fetch;
    void *ctx;
    const uint8_t *mem;
    uint64_t mem_len;
    const elves_base_src *base; /* for XOR blocks */
} range_src;

typedef struct range_dec {
    const elves_block_ref *blocks;
    size_t begin, end; /* covering blocks */
    uint64_t first, last;
    uint8_t *out;
    range_src src;
    uint8_t *edge[2]; /* decoded first/last block when only partly wanted */
    size_t per_batch; /* most blocks in a batch */
    unsigned threads;
    range_set set[2]; /* one batch decoding while the next is fetched */
    es_stream_ctx *sc; /* whose segment scratch holds set[].enc, or NULL */
} range_dec;

static int check_ref(const elves_block_ref *r, elves_error *err)
{
    if (r->raw_len == 0 || r->raw_len > ELVES_MAX_BLOCK_SIZE ||
        r->enc_len < ELVES_BLOCK_HEADER_SIZE ||
        r->enc_len > elves_block_bound(r->raw_len))
        return es_fail(err, ELVES_E_CORRUPT,
                       "block map: block at %llu has sizes %u/%u",
                       (unsigned long long)r->raw_offset, (unsigned)r->raw_len,
                       (unsigned)r->enc_len);
    return ELVES_OK;
}

/* Where block k decodes to: straight into out when all of it is wanted,
 * else into a scratch buffer whose wanted part is copied afterwards. */
static int range_dst(range_dec *rd, size_t k, uint8_t **dst, elves_error *err)
{
    const elves_block_ref *r = &rd->blocks[k];
    uint64_t r_last = r->raw_offset + r->raw_len - 1;

    if (r->raw_offset >= rd->first && r_last <= rd->last) {
        *dst = rd->out + (r->raw_offset - rd->first);
        return ELVES_OK;
    }
    int e = k == rd->begin ? 0 : 1;
    if (!rd->edge[e])
        rd->edge[e] = malloc(r->raw_len);
    if (!rd->edge[e])
        return es_fail(err, ELVES_E_NOMEM, "range: no memory for a block");
    *dst = rd->edge[e];
    return ELVES_OK;
}

/* Block k's bytes: fetched into buf (on the calling thread), or where they
 * lie in rd->src.mem; *out points at them once their header agrees with the
 * map. */
static int range_fetch(range_dec *rd, size_t k, uint8_t *buf,
                       const uint8_t **out, elves_error *err)
{
    const elves_block_ref *r = &rd->blocks[k];
    const uint8_t *p = buf;
    elves_block_info info;

    if (rd->src.mem) {
        if (r->loc > rd->src.mem_len || rd->src.mem_len - r->loc < r->enc_len)
            return es_fail(err, ELVES_E_CORRUPT,
                           "range: the block at %llu lies past the end of "
                           "the container",
                           (unsigned long long)r->raw_offset);
        p = rd->src.mem + r->loc;
    } else if (rd->src.fetch(rd->src.ctx, r, buf)) {
        return es_fail(err, ELVES_E_CALLBACK,
                       "range: fetching the block at %llu failed",
                       (unsigned long long)r->raw_offset);
    }
    if (elves_block_info_read(&info, p, r->enc_len) != ELVES_OK ||
        info.raw_len != r->raw_len ||
        (uint64_t)info.enc_len + ELVES_BLOCK_HEADER_SIZE != r->enc_len)
        return es_fail(err, ELVES_E_CORRUPT,
                       "range: the block at %llu does not match its map entry",
                       (unsigned long long)r->raw_offset);
    *out = p;
    return ELVES_OK;
}

/* One past the last block of the batch starting at b0; *enc receives its
 * encoded bytes. */
static size_t range_batch_end(const range_dec *rd, size_t b0, size_t *enc)
{
    uint64_t raw = 0, enough = rd->threads * DECODE_BYTES_PER_THREAD;
    size_t b1 = b0;

    *enc = 0;
    while (b1 < rd->end && b1 - b0 < rd->per_batch &&
           (raw < enough || b1 - b0 < rd->threads)) {
        raw += rd->blocks[b1].raw_len;
        *enc += rd->blocks[b1++].enc_len;
    }
    return b1;
}

/* Gives both batches' fetch buffers a home in the calling thread's segment
 * scratch, which outlives the call: fresh buffers of a few MB per call
 * cost a page fault per 4 kB, and on this VM a fault costs microseconds
 * (two-thread decoding of 64 MiB slices ran below one thread).  Without
 * the slot (busy, or no memory) range_prepare allocates as before. */
static void range_take_scratch(range_dec *rd, size_t nsets, size_t most)
{
    es_stream_ctx *sc = es_thread_ctx();

    if (!sc || sc->segment_busy)
        return;
    uint8_t *p = es_scratch(sc, ES_SCRATCH_SEGMENT, nsets * most);
    if (!p)
        return;
    sc->segment_busy = 1;
    rd->sc = sc;
    for (size_t i = 0; i < nsets; i++) {
        rd->set[i].enc = p + i * most;
        rd->set[i].enc_cap = most;
    }
}

static void range_give_scratch(range_dec *rd)
{
    if (!rd->sc)
        return;
    rd->set[0].enc = rd->set[1].enc = NULL;
    rd->sc->segment_busy = 0;
    es_stream_ctx_trim_segment(rd->sc);
    rd->sc = NULL;
}

/* Fetches the next batch from block b0 into set and lays out its decode
 * jobs: at most per_batch blocks, and no more once there is
 * DECODE_BYTES_PER_THREAD of output per thread, so a batch of small blocks
 * still gives each thread enough to decode between two waits. */
static int range_prepare(range_dec *rd, range_set *set, size_t b0,
                         elves_error *err)
{
    size_t total = 0;
    int rc;

    set->b0 = b0;
    set->b1 = range_batch_end(rd, b0, &total);
    if (!rd->src.mem && total > set->enc_cap) {
        uint8_t *p = realloc(set->enc, total);
        if (!p)
            return es_fail(err, ELVES_E_NOMEM, "range: no memory for blocks");
        set->enc = p;
        set->enc_cap = total;
    }
    total = 0;
    for (size_t k = set->b0; k < set->b1; k++) {
        elves_decode_job *j = &set->jobs[k - set->b0];
        j->block_len = rd->blocks[k].enc_len;
        j->dst_cap = rd->blocks[k].raw_len;
        j->base = rd->src.base;
        rc = range_dst(rd, k, &j->dst, err);
        if (!rc)
            rc = range_fetch(rd, k, rd->src.mem ? NULL : set->enc + total,
                             &j->block, err);
        if (rc)
            return rc;
        total += j->block_len;
    }
    return ELVES_OK;
}

/* Copies the wanted part of a partly wanted block out of its scratch. */
static void range_copy_edges(range_dec *rd, const range_set *set)
{
    for (size_t k = set->b0; k < set->b1; k++) {
        const elves_block_ref *r = &rd->blocks[k];
        const elves_decode_job *j = &set->jobs[k - set->b0];
        if (j->dst != rd->edge[0] && j->dst != rd->edge[1])
            continue;
        uint64_t lo = r->raw_offset > rd->first ? r->raw_offset : rd->first;
        uint64_t hi = r->raw_offset + r->raw_len - 1;
        if (hi > rd->last)
            hi = rd->last;
        memcpy(rd->out + (lo - rd->first), j->dst + (lo - r->raw_offset),
               (size_t)(hi - lo + 1));
    }
}

/* Batch after batch: while the helpers decode batch k, the caller fetches
 * batch k+1, then joins the decoding.  An error in batch k is reported
 * before one in batch k+1, so the first error in file order wins. */
static int range_batches(range_dec *rd, es_pool *pool, elves_error *err)
{
    elves_error next_err = {0, ""};
    int rc = range_prepare(rd, &rd->set[0], rd->begin, err);

    if (rc)
        return rc;
    pool_submit(pool, decode_task, rd->set[0].jobs,
                rd->set[0].b1 - rd->set[0].b0);
    for (size_t k = 0;; k++) {
        range_set *cur = &rd->set[k % 2], *nxt = &rd->set[(k + 1) % 2];
        int more = cur->b1 < rd->end, next_rc = ELVES_OK;
        if (more)
            next_rc = range_prepare(rd, nxt, cur->b1, &next_err);
        rc = pool_wait(pool, err);
        if (!rc && next_rc) {
            rc = next_rc;
            if (err)
                *err = next_err;
        }
        if (rc)
            return rc;
        range_copy_edges(rd, cur);
        if (!more)
            return ELVES_OK;
        pool_submit(pool, decode_task, nxt->jobs, nxt->b1 - nxt->b0);
    }
}

/* One thread: block after block into one fetch buffer sized for the
 * largest, with no pool.  Batches of one block through the pool cost a
 * handful of lock round trips per block and a buffer regrown (and copied)
 * each time a larger block came: 7% of decode time over the shared
 * checkpoints, up to 15% on those of many mid-size tensors. */
static int range_serial(range_dec *rd, elves_error *err)
{
    range_set *set = &rd->set[0];
    size_t got;
    int rc = ELVES_OK;

    if (!rd->src.mem) {
        size_t most = 0;
        for (size_t k = rd->begin; k < rd->end; k++)
            if (rd->blocks[k].enc_len > most)
                most = rd->blocks[k].enc_len;
        range_take_scratch(rd, 1, most);
        if (!set->enc) {
            set->enc_cap = most;
            set->enc = malloc(most ? most : 1);
        }
        if (!set->enc)
            return es_fail(err, ELVES_E_NOMEM, "range: no memory for blocks");
    }
    set->jobs = &(elves_decode_job){0};
    for (size_t k = rd->begin; k < rd->end && !rc; k++) {
        elves_decode_job *j = set->jobs;
        set->b0 = k;
        set->b1 = k + 1;
        j->block_len = rd->blocks[k].enc_len;
        j->dst_cap = rd->blocks[k].raw_len;
        rc = range_dst(rd, k, &j->dst, err);
        if (!rc)
            rc = range_fetch(rd, k, set->enc, &j->block, err);
        if (!rc)
            rc = elves_block_decode_base(&got, j->dst, j->dst_cap, j->block,
                                         j->block_len, rd->src.base, err);
        if (!rc)
            range_copy_edges(rd, set);
    }
    set->jobs = NULL;
    return rc;
}

static int range_run(range_dec *rd, unsigned threads, elves_error *err)
{
    uint64_t bytes = rd->last - rd->first + 1;
    unsigned t = clamp_decode_threads(threads, rd->end - rd->begin, bytes);
    es_pool pool;
    int rc;

    if (t == 1)
        return range_serial(rd, err);

    rd->threads = t;
    rd->per_batch = (size_t)t * 64;
    rd->set[0].jobs = calloc(rd->per_batch, sizeof(elves_decode_job));
    rd->set[1].jobs = calloc(rd->per_batch, sizeof(elves_decode_job));
    if (!rd->set[0].jobs || !rd->set[1].jobs)
        return es_fail(err, ELVES_E_NOMEM, "range: no memory");
    if (!rd->src.mem) {
        size_t most = 0, enc;
        for (size_t b0 = rd->begin; b0 < rd->end;) {
            b0 = range_batch_end(rd, b0, &enc);
            most = enc > most ? enc : most;
        }
        range_take_scratch(rd, 2, most);
    }
    rc = pool_start(&pool, t, err);
    if (rc)
        return rc;
    rc = range_batches(rd, &pool, err);
    pool_stop(&pool);
    return rc;
}

/* Both entry points, with the blocks' source. */
static int decode_range(const range_src *src, uint8_t *out,
                        const elves_block_ref *blocks, size_t n, uint64_t first,
                        uint64_t last, unsigned threads, elves_error *err)
{
    range_dec rd;
    int rc;

    if (!out || (!src->fetch && !src->mem) || (!blocks && n))
        return es_fail(err, ELVES_E_INVALID, "range: missing argument");
    memset(&rd, 0, sizeof rd);
    rc = elves_blocks_cover(&rd.begin, &rd.end, blocks, n, first, last);
    if (rc == ELVES_E_RANGE)
        return es_fail(err, rc, "range %llu-%llu is outside the data",
                       (unsigned long long)first, (unsigned long long)last);
    if (rc)
        return es_fail(err, rc, "range: the block map is inconsistent");
    for (size_t k = rd.begin; k < rd.end; k++)
        if ((rc = check_ref(&blocks[k], err)) != ELVES_OK)
            return rc;
    rd.src = *src;
    rd.blocks = blocks;
    rd.first = first;
    rd.last = last;
    rd.out = out;
    rc = range_run(&rd, threads, err);
    range_give_scratch(&rd);
    for (int i = 0; i < 2; i++) {
        free(rd.set[i].jobs);
        free(rd.set[i].enc);
    }
    free(rd.edge[0]);
    free(rd.edge[1]);
    return rc;
}

int elves_decode_range(uint8_t *out, const elves_block_ref *blocks, size_t n,
                       uint64_t first, uint64_t last, elves_fetch_fn fetch,
                       void *ctx, const elves_base_src *base, unsigned threads,
                       elves_error *err)
{
    range_src src = {fetch, ctx, NULL, 0, base};
    return decode_range(&src, out, blocks, n, first, last, threads, err);
}

int elves_decode_range_mem(uint8_t *out, const elves_block_ref *blocks,
                           size_t n, uint64_t first, uint64_t last,
                           const uint8_t *mem, uint64_t mem_len,
                           const elves_base_src *base, unsigned threads,
                           elves_error *err)
{
    range_src src = {NULL, NULL, mem, mem_len, base};
    return decode_range(&src, out, blocks, n, first, last, threads, err);
}
