/*
 * reader.c - serving byte ranges of a file version: from its spool file
 * while it has one, else from its manifest (blocks -> chunks -> decode).
 *
 * Decoded blocks go through one cache shared by all readers (LRU, bounded
 * by store_config.cache_bytes, keyed by chunk id), so repeated ranges and
 * files sharing blocks decode once.  When a reader sees sequential reads it
 * asks the decode pool to decode the blocks of the next AHEAD_BYTES, so a single
 * download keeps several cores busy.  A reader itself holds no block
 * memory: everything it copies from lives in the bounded cache.
 * Read-ahead is counted in decoded bytes, not blocks (a small tensor is a
 * block of a few kB), skips blocks the cache already holds and queues a
 * batch at once: one wake-up per batch, not one per block.
 */
#include "store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"

#define AHEAD_BYTES ((uint64_t)4 << 20) /* decoded bytes kept queued ahead */
#define AHEAD_BATCH 64                     /* blocks queued per read */
#define QUEUE_MAX 256

/* ---- the shared decoded-block cache ---------------------------------------
 */

enum { ENTRY_PENDING, ENTRY_READY, ENTRY_FAILED };

typedef struct cache_entry {
    int64_t chunk_id;
    uint64_t checksum; /* of the encoded chunk: part of the key */
    uint8_t *data;
    size_t len;
    size_t data_cap; /* allocated bytes at data (>= len) */
    int state;
    int refs;
    int hashed; /* still findable in the table */
    es_err err; /* when FAILED */
    struct cache_entry *hnext;
    struct cache_entry *prev, *next; /* LRU, READY entries only */
} cache_entry;

/* Buffers of evicted entries kept for the next ones: blocks all have
 * about the same size, and a fresh buffer per block costs a page fault per
 * page it is decoded into.  At most SPARE_MAX buffers, and never more
 * bytes than a quarter of the cache. */
#define SPARE_MAX 8

typedef struct spare_buf {
    uint8_t *p;
    size_t cap;
} spare_buf;

struct block_cache {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t cap, used;
    spare_buf spare[SPARE_MAX];
    size_t nspare, spare_bytes;
    size_t nbuckets;
    cache_entry **buckets;
    cache_entry lru;       /* sentinel: lru.next is the most recent */
    atomic_size_t readers; /* open readers of stored files */
};

static size_t bucket_of(const block_cache *c, int64_t id)
{
    uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 32) % c->nbuckets;
}

static void lru_unlink(cache_entry *e)
{
    if (e->prev) {
        e->prev->next = e->next;
        e->next->prev = e->prev;
        e->prev = e->next = NULL;
    }
}

static void lru_push(block_cache *c, cache_entry *e)
{
    e->next = c->lru.next;
    e->prev = &c->lru;
    c->lru.next->prev = e;
    c->lru.next = e;
}

static void hash_remove(block_cache *c, cache_entry *e)
{
    cache_entry **pp = &c->buckets[bucket_of(c, e->chunk_id)];
    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = e->hnext;
    e->hashed = 0;
}

/* A buffer of at least len bytes, recycled if one fits.  mu held. */
static uint8_t *buf_take(block_cache *c, size_t len, size_t *cap)
{
    for (size_t i = 0; i < c->nspare; i++) {
        spare_buf *b = &c->spare[i];
        if (b->cap >= len && b->cap / 2 <= len) {
            uint8_t *p = b->p;
            *cap = b->cap;
            c->spare_bytes -= b->cap;
            *b = c->spare[--c->nspare];
            return p;
        }
    }
    *cap = len;
    return malloc(len);
}

static void buf_give(block_cache *c, uint8_t *p, size_t cap)
{
    if (c->nspare < SPARE_MAX && c->spare_bytes + cap <= c->cap / 4) {
        c->spare[c->nspare++] = (spare_buf){p, cap};
        c->spare_bytes += cap;
    } else {
        free(p);
    }
}

static void entry_free(block_cache *c, cache_entry *e)
{
    c->used -= e->len;
    if (e->data)
        buf_give(c, e->data, e->data_cap);
    free(e);
}

/* Drops least recently used idle entries until the cache fits.  mu held. */
static void cache_trim(block_cache *c)
{
    cache_entry *e = c->lru.prev;
    while (c->used > c->cap && e != &c->lru) {
        cache_entry *prev = e->prev;
        if (e->refs == 0) {
            lru_unlink(e);
            if (e->hashed)
                hash_remove(c, e);
            entry_free(c, e);
        }
        e = prev;
    }
}

static int cache_create(block_cache **out, size_t cap)
{
    block_cache *c = calloc(1, sizeof *c);
    if (!c)
        return -1;
    c->cap = cap;
    c->nbuckets = 4096;
    c->buckets = calloc(c->nbuckets, sizeof *c->buckets);
    if (!c->buckets) {
        free(c);
        return -1;
    }
    c->lru.next = c->lru.prev = &c->lru;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    *out = c;
    return 0;
}

static void cache_destroy(block_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nbuckets; i++) {
        cache_entry *e = c->buckets[i];
        while (e) {
            cache_entry *next = e->hnext;
            entry_free(c, e);
            e = next;
        }
    }
    for (size_t i = 0; i < c->nspare; i++)
        free(c->spare[i].p);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c->buckets);
    free(c);
}

/* Unhashes an entry that no longer names the chunk under its id; it is
 * freed now if unused, else by its last release. */
static void cache_forget(block_cache *c, cache_entry *e)
{
    hash_remove(c, e);
    if (e->refs == 0) {
        lru_unlink(e);
        entry_free(c, e);
    }
}

static cache_entry *cache_insert(block_cache *c, int64_t chunk_id,
                                 uint64_t checksum, size_t len)
{
    cache_entry *e = calloc(1, sizeof *e);
    if (!e || !(e->data = buf_take(c, len ? len : 1, &e->data_cap))) {
        free(e);
        return NULL;
    }
    e->chunk_id = chunk_id;
    e->checksum = checksum;
    e->len = len;
    e->refs = 1;
    e->hashed = 1;
    size_t b = bucket_of(c, chunk_id);
    e->hnext = c->buckets[b];
    c->buckets[b] = e;
    c->used += len;
    cache_trim(c);
    return e;
}

/* Finds or creates the entry for a chunk with a reference taken.  *owner
 * is set when the caller created it and must fill it (cache_publish).  The
 * key is the chunk id checked against the chunk's checksum and size, so an
 * entry can never answer for other bytes. */
static cache_entry *cache_acquire(block_cache *c, int64_t chunk_id,
                                  uint64_t checksum, size_t len, int *owner)
{
    pthread_mutex_lock(&c->mu);
    cache_entry *e = c->buckets[bucket_of(c, chunk_id)];
    while (e && e->chunk_id != chunk_id)
        e = e->hnext;
    if (e && (e->checksum != checksum || e->len != len)) {
        cache_forget(c, e);
        e = NULL;
    }
    *owner = 0;
    if (e) {
        e->refs++;
        if (e->state == ENTRY_READY) {
            lru_unlink(e);
            lru_push(c, e);
        }
    } else if ((e = cache_insert(c, chunk_id, checksum, len)) != NULL) {
        *owner = 1;
    }
    pthread_mutex_unlock(&c->mu);
    metrics_cache_lookup(e != NULL && !*owner);
    return e;
}

static void cache_publish(block_cache *c, cache_entry *e, const es_err *err)
{
    pthread_mutex_lock(&c->mu);
    if (err) {
        e->state = ENTRY_FAILED;
        e->err = *err;
        hash_remove(c, e); /* the next reader tries again */
    } else {
        e->state = ENTRY_READY;
        lru_push(c, e);
    }
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* Waits until e is no longer pending; 0 if READY, else -1 + err. */
static int cache_wait(block_cache *c, cache_entry *e, es_err *err)
{
    pthread_mutex_lock(&c->mu);
    while (e->state == ENTRY_PENDING)
        pthread_cond_wait(&c->cv, &c->mu);
    int rc = e->state == ENTRY_READY ? 0 : -1;
    if (rc < 0)
        *err = e->err;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static void cache_release(block_cache *c, cache_entry *e)
{
    pthread_mutex_lock(&c->mu);
    if (--e->refs == 0) {
        if (!e->hashed) {
            lru_unlink(e);
            entry_free(c, e);
        } else
            cache_trim(c);
    }
    pthread_mutex_unlock(&c->mu);
}

/* ---- fetching and decoding one block ---------------------------------------
 */

/* Current location of a chunk (compaction may have moved it). */
static int chunk_loc_reload(es_store *st, int64_t chunk_id, chunk_loc *loc,
                            es_err *err)
{
    meta_tx *tx;
    meta_chunk l;
    if (meta_begin(st->meta, META_READ, &tx, err) < 0)
        return -1;
    int rc = meta_end(tx, meta_chunk_get(tx, chunk_id, &l, err), err);
    if (rc == 0)
        return es_errf(err, 500, "chunk %lld is gone", (long long)chunk_id);
    if (rc < 0)
        return -1;
    *loc = (chunk_loc){l.container, l.offset, l.length, l.checksum};
    return 0;
}

/* The chunk store does not hash what it fetches: the block decoder checks
 * the decoded bytes against the block's own checksum (chunkstore.h). */
static int fetch_chunk(es_store *st, int64_t chunk_id, chunk_loc loc,
                       uint8_t *buf, es_err *err)
{
    if (chunkstore_fetch(&st->cs, &loc, buf, err) == 0)
        return 0;
    if (err->status != 404)
        return -1;
    if (chunk_loc_reload(st, chunk_id, &loc, err) < 0)
        return -1;
    return chunkstore_fetch(&st->cs, &loc, buf, err);
}

/* A buffer for encoded chunks that lives as long as its reader or decode
 * thread: allocating one per block costs page faults on every block. */
typedef struct enc_buf {
    uint8_t *p;
    size_t cap;
} enc_buf;

static uint8_t *enc_buf_get(enc_buf *b, size_t len)
{
    if (len > b->cap) {
        free(b->p);
        b->p = malloc(len);
        b->cap = b->p ? len : 0;
    }
    return b->p;
}

static void enc_buf_free(enc_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->cap = 0;
}

/* Fetches chunk_id and decodes it into dst (raw_len bytes). */
static int load_block(es_store *st, int64_t chunk_id, const chunk_loc *loc,
                      uint8_t *dst, size_t raw_len, enc_buf *eb, es_err *err)
{
    uint8_t *buf = enc_buf_get(eb, loc->length ? loc->length : 1);
    if (!buf)
        return es_errf(err, 500, "out of memory");
    int rc = fetch_chunk(st, chunk_id, *loc, buf, err);
    if (rc == 0) {
        size_t got = 0;
        elves_error e = {0, ""};
        int drc = elves_block_decode_base(&got, dst, raw_len, buf, loc->length,
                                          &st->base_src, &e);
        if (drc != 0 || got != raw_len) {
            fprintf(stderr, "elvesd: CORRUPT block in chunk %lld: %s\n",
                    (long long)chunk_id,
                    drc ? e.msg : "decoded size differs from manifest");
            rc = es_errf(err, 500, "corrupt block in chunk %lld: %s",
                         (long long)chunk_id,
                         drc ? e.msg : "decoded size differs");
        }
    }
    return rc;
}

/* Fills a freshly created cache entry. */
static void fill_entry(es_store *st, cache_entry *e, const chunk_loc *loc,
                       enc_buf *eb)
{
    es_err err;
    if (load_block(st, e->chunk_id, loc, e->data, e->len, eb, &err) < 0)
        cache_publish(st->cache, e, &err);
    else
        cache_publish(st->cache, e, NULL);
}

/* ---- the decode pool (read-ahead)
 * --------------------------------------------- */

typedef struct decode_task {
    int64_t chunk_id;
    chunk_loc loc;
    size_t raw_len;
} decode_task;

struct decode_pool {
    es_store *st;
    pthread_t *threads;
    unsigned n;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    decode_task queue[QUEUE_MAX];
    size_t head, count;
    int stop;
};

static void run_task(es_store *st, const decode_task *t, enc_buf *eb)
{
    int owner;
    cache_entry *e = cache_acquire(st->cache, t->chunk_id, t->loc.checksum,
                                   t->raw_len, &owner);
    if (!e)
        return;
    if (owner)
        fill_entry(st, e, &t->loc, eb);
    cache_release(st->cache, e);
}

static void *decoder_thread(void *arg)
{
    decode_pool *p = arg;
    enc_buf eb = {0};
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->count == 0)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->stop)
            break;
        decode_task t = p->queue[p->head];
        p->head = (p->head + 1) % QUEUE_MAX;
        p->count--;
        pthread_mutex_unlock(&p->mu);
        run_task(p->st, &t, &eb);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    enc_buf_free(&eb);
    return NULL;
}

/* Whether the cache holds (or is filling) the block of task t. */
static int cache_has(block_cache *c, const decode_task *t)
{
    cache_entry *e = c->buckets[bucket_of(c, t->chunk_id)];
    while (e && e->chunk_id != t->chunk_id)
        e = e->hnext;
    return e && e->checksum == t->loc.checksum && e->len == t->raw_len &&
           e->state != ENTRY_FAILED;
}

/* Queues read-ahead decodes of the blocks the cache lacks; what does not
 * fit in the queue is dropped. */
static void decode_submit(es_store *st, decode_task *t, size_t n)
{
    decode_pool *p = st->decoders;
    if (!p || p->n == 0 || n == 0)
        return;
    size_t keep = 0;
    pthread_mutex_lock(&st->cache->mu);
    for (size_t i = 0; i < n; i++)
        if (!cache_has(st->cache, &t[i]))
            t[keep++] = t[i];
    pthread_mutex_unlock(&st->cache->mu);
    if (keep == 0)
        return;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < keep && p->count < QUEUE_MAX && !p->stop; i++) {
        p->queue[(p->head + p->count) % QUEUE_MAX] = t[i];
        p->count++;
    }
    if (keep > 1)
        pthread_cond_broadcast(&p->cv);
    else
        pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static int pool_start(es_store *st, es_err *err)
{
    decode_pool *p = calloc(1, sizeof *p);
    if (!p)
        return es_errf(err, 500, "out of memory");
    p->st = st;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    st->decoders = p;
    unsigned want = st->decode_threads;
    p->threads = calloc(want ? want : 1, sizeof *p->threads);
    if (!p->threads)
        return es_errf(err, 500, "out of memory");
    for (p->n = 0; p->n < want; p->n++)
        if (pthread_create(&p->threads[p->n], NULL, decoder_thread, p) != 0)
            return es_errf(err, 500, "cannot start decode thread");
    return 0;
}

static void pool_stop(es_store *st)
{
    decode_pool *p = st->decoders;
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->n; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->threads);
    free(p);
    st->decoders = NULL;
}

int reader_init(es_store *st, es_err *err)
{
    if (cache_create(&st->cache, st->cache_bytes) < 0)
        return es_errf(err, 500, "out of memory");
    return pool_start(st, err);
}

void reader_shutdown(es_store *st)
{
    pool_stop(st);
    cache_destroy(st->cache);
    st->cache = NULL;
}

/* ---- block maps
 * ----------------------------------------------------------------- */

void file_map_free(file_map *m)
{
    free(m->refs);
    free(m->locs);
    memset(m, 0, sizeof *m);
}

static int map_grow(file_map *m, size_t *cap)
{
    if (m->n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 64;
    elves_block_ref *refs = realloc(m->refs, ncap * sizeof *refs);
    if (refs)
        m->refs = refs;
    chunk_loc *locs = realloc(m->locs, ncap * sizeof *locs);
    if (locs)
        m->locs = locs;
    if (!refs || !locs)
        return -1;
    *cap = ncap;
    return 0;
}

typedef struct map_build {
    file_map *m;
    size_t cap;
} map_build;

static int map_add(void *ctx, const meta_chunk_block *b)
{
    map_build *mb = ctx;
    file_map *m = mb->m;
    if (map_grow(m, &mb->cap) < 0)
        return -1;
    elves_block_ref *r = &m->refs[m->n];
    r->raw_offset = b->raw_offset;
    r->raw_len = b->raw_len;
    r->loc = (uint64_t)b->chunk.id;
    r->enc_len = b->chunk.length;
    m->locs[m->n] = (chunk_loc){b->chunk.container, b->chunk.offset,
                                b->chunk.length, b->chunk.checksum};
    m->n++;
    return 0;
}

int file_map_load(es_store *st, int64_t file_id, file_map *out, es_err *err)
{
    memset(out, 0, sizeof *out);
    map_build mb = {out, 0};
    meta_tx *tx;
    if (meta_begin(st->meta, META_READ, &tx, err) < 0)
        return -1;
    int rc = meta_file_block_each(tx, file_id, map_add, &mb, err);
    if (rc > 0)
        rc = es_errf(err, 500, "out of memory");
    rc = meta_end(tx, rc, err);
    if (rc < 0)
        file_map_free(out);
    return rc;
}

/* The blocks must tile [0, size) in order. */
static int map_check(const file_map *m, uint64_t size, es_err *err)
{
    uint64_t at = 0;
    for (size_t i = 0; i < m->n; i++) {
        if (m->refs[i].raw_offset != at || m->refs[i].raw_len == 0)
            return es_errf(err, 500, "manifest does not tile the file");
        at += m->refs[i].raw_len;
    }
    if (at != size)
        return es_errf(err, 500, "manifest covers %llu of %llu bytes",
                       (unsigned long long)at, (unsigned long long)size);
    return 0;
}

/* ---- readers
 * ---------------------------------------------------------------------- */

struct store_reader {
    es_store *st;
    int64_t file_id;
    int fd; /* spool file, or -1 when reading blocks */
    /* the bucket's copy of a spool file this replica does not have
     * (spool_remote.c), or "" */
    char remote[80];
    uint64_t size;
    file_map map;
    uint64_t next_off;  /* where a sequential read would continue */
    size_t ahead_until; /* blocks before this index were queued ahead */
    int counted;        /* in the cache's count of readers */
    enc_buf enc;        /* for blocks this reader decodes itself */
};

typedef struct file_where {
    int exists;
    int64_t size;
    char state[16];
    char spool[80];
} file_where;

static int file_where_get(es_store *st, int64_t file_id, file_where *w,
                          es_err *err)
{
    memset(w, 0, sizeof *w);
    meta_tx *tx;
    meta_file f;
    if (meta_begin(st->meta, META_READ, &tx, err) < 0)
        return -1;
    int rc = meta_end(tx, meta_file_get(tx, file_id, &f, err), err);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        w->exists = 1;
        w->size = (int64_t)f.size;
        memcpy(w->state, f.state, sizeof w->state);
        memcpy(w->spool, f.spool, sizeof w->spool);
    }
    return 0;
}

/* 1 if the bucket holds spool file `name` (r reads it from there now),
 * 0 if it is gone (its job just stored the file). */
static int remote_probe(store_reader *r, const char *name, es_err *err)
{
    uint8_t byte;
    if (r->size > 0 && spool_remote_read(r->st, name, 0, 1, &byte, err) < 0)
        return err->status == 404 ? 0 : -1;
    snprintf(r->remote, sizeof r->remote, "%s", name);
    return 1;
}

/* Opens the spool file or loads the block map, whichever holds the file
 * now.  The spool may vanish between the query and the open (its job just
 * committed): then the second round finds the manifest. */
static int reader_locate(store_reader *r, int64_t file_id, es_err *err)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        file_where w;
        if (file_where_get(r->st, file_id, &w, err) < 0)
            return -1;
        if (!w.exists)
            return es_errf(err, 404, "file version was deleted");
        r->size = (uint64_t)w.size;
        if (w.spool[0]) {
            char path[4096];
            store_spool_path(r->st, w.spool, path, sizeof path);
            r->fd = open(path, O_RDONLY | O_CLOEXEC);
            if (r->fd >= 0)
                return 0;
            if (errno != ENOENT)
                return es_errf(err, 500, "open spool: %s", strerror(errno));
            if (r->st->spool_remote) {
                int rc = remote_probe(r, w.spool, err);
                if (rc != 0)
                    return rc < 0 ? -1 : 0;
            }
            continue;
        }
        if (strcmp(w.state, "stored") != 0)
            return es_errf(err, 500, "file has neither spool nor manifest");
        if (file_map_load(r->st, file_id, &r->map, err) < 0 ||
            map_check(&r->map, r->size, err) < 0)
            return -1;
        r->counted = 1;
        atomic_fetch_add(&r->st->cache->readers, 1);
        return 0;
    }
    return es_errf(err, 500, "file moved while opening it");
}

int store_reader_open(es_store *st, const store_file *f, store_reader **out,
                      es_err *err)
{
    store_reader *r = calloc(1, sizeof *r);
    if (!r)
        return es_errf(err, 500, "out of memory");
    r->st = st;
    r->file_id = f->file_id;
    r->fd = -1;
    if (reader_locate(r, f->file_id, err) < 0) {
        store_reader_close(r);
        return -1;
    }
    *out = r;
    return 0;
}

void store_reader_close(store_reader *r)
{
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    if (r->counted)
        atomic_fetch_sub(&r->st->cache->readers, 1);
    file_map_free(&r->map);
    enc_buf_free(&r->enc);
    free(r);
}

static int read_spool(store_reader *r, uint64_t off, uint8_t *buf, size_t len,
                      size_t *got, es_err *err)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(r->fd, buf + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return es_errf(err, 500, "spool read: %s", strerror(errno));
        if (n == 0)
            break;
        done += (size_t)n;
    }
    *got = done;
    return 0;
}

/* Index of the block holding byte off (off < size). */
static size_t block_at(const file_map *m, uint64_t off)
{
    size_t lo = 0, hi = m->n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->refs[mid].raw_offset <= off)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* How many decoded bytes to keep queued past the block being read:
 * AHEAD_BYTES, less when many readers share the cache, since blocks decoded
 * ahead for all of them must fit in half of it or they would be evicted
 * before use and decoded twice. */
static uint64_t ahead_bytes(const store_reader *r)
{
    block_cache *c = r->st->cache;
    size_t readers = atomic_load(&c->readers);
    uint64_t fit = c->cap / 2 / (readers ? readers : 1);
    return fit < AHEAD_BYTES ? fit : AHEAD_BYTES;
}

static void read_ahead(store_reader *r, size_t idx)
{
    const elves_block_ref *refs = r->map.refs;
    size_t i = idx + 1 > r->ahead_until ? idx + 1 : r->ahead_until;
    uint64_t limit = refs[idx].raw_offset + refs[idx].raw_len + ahead_bytes(r);
    decode_task t[AHEAD_BATCH];
    size_t n = 0;
    for (; i < r->map.n && n < AHEAD_BATCH &&
           refs[i].raw_offset + refs[i].raw_len <= limit;
         i++)
        t[n++] = (decode_task){(int64_t)refs[i].loc, r->map.locs[i],
                               refs[i].raw_len};
    if (i > r->ahead_until)
        r->ahead_until = i;
    decode_submit(r->st, t, n);
}

int reader_block_copy(es_store *st, int64_t chunk_id, const chunk_loc *loc,
                      uint32_t raw_len, uint64_t from, size_t n, uint8_t *out,
                      es_err *err)
{
    enc_buf eb = {NULL, 0};
    int owner;
    cache_entry *e =
        cache_acquire(st->cache, chunk_id, loc->checksum, raw_len, &owner);
    if (!e)
        return es_errf(err, 500, "out of memory");
    if (owner)
        fill_entry(st, e, loc, &eb);
    enc_buf_free(&eb);
    int rc = cache_wait(st->cache, e, err);
    if (rc == 0 && (from > raw_len || n > raw_len - from))
        rc = es_errf(err, 500, "block copy past the block");
    if (rc == 0)
        memcpy(out, e->data + from, n);
    cache_release(st->cache, e);
    return rc;
}

/* Copies from block idx starting at off; returns bytes copied or -1. */
static int copy_block(store_reader *r, size_t idx, uint64_t off, uint8_t *buf,
                      size_t len, size_t *copied, es_err *err)
{
    const elves_block_ref *ref = &r->map.refs[idx];
    int owner;
    cache_entry *e =
        cache_acquire(r->st->cache, (int64_t)ref->loc,
                      r->map.locs[idx].checksum, ref->raw_len, &owner);
    if (!e)
        return es_errf(err, 500, "out of memory");
    if (owner)
        fill_entry(r->st, e, &r->map.locs[idx], &r->enc);
    int rc = cache_wait(r->st->cache, e, err);
    if (rc == 0) {
        uint64_t in = off - ref->raw_offset;
        size_t n = ref->raw_len - in;
        if (n > len)
            n = len;
        memcpy(buf, e->data + in, n);
        *copied = n;
    }
    cache_release(r->st->cache, e);
    return rc;
}

static int read_blocks(store_reader *r, uint64_t off, uint8_t *buf, size_t len,
                       size_t *got, es_err *err)
{
    int sequential = off == r->next_off;
    size_t done = 0;
    while (done < len && off + done < r->size) {
        size_t idx = block_at(&r->map, off + done);
        if (sequential)
            read_ahead(r, idx);
        size_t n = 0;
        if (copy_block(r, idx, off + done, buf + done, len - done, &n, err) < 0)
            return -1;
        done += n;
    }
    *got = done;
    return 0;
}

int store_reader_read(store_reader *r, uint64_t off, uint8_t *buf, size_t len,
                      size_t *got, es_err *err)
{
    *got = 0;
    if (off >= r->size || len == 0)
        return 0;
    if (len > r->size - off)
        len = (size_t)(r->size - off);
    int rc;
    if (r->remote[0]) {
        rc = spool_remote_read(r->st, r->remote, off, len, buf, err);
        *got = rc == 0 ? len : 0;
        if (rc < 0 && err->status == 404) {
            /* its job stored the file and removed the copy meanwhile */
            r->remote[0] = '\0';
            if (reader_locate(r, r->file_id, err) < 0)
                return -1;
            return store_reader_read(r, off, buf, len, got, err);
        }
        return rc;
    }
    rc = r->fd >= 0 ? read_spool(r, off, buf, len, got, err)
                    : read_blocks(r, off, buf, len, got, err);
    if (rc == 0) {
        if (r->fd < 0 && off != r->next_off)
            r->ahead_until = 0; /* a jump: start read-ahead afresh */
        r->next_off = off + *got;
    }
    return rc;
}
