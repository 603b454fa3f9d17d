/*
 * chunkstore_s3.c - the chunk store in an S3 bucket (see chunkstore.h for
 * the contract, s3.h for the client).
 *
 * Chunks are appended, as records (chunk_record.h), to one open pack held
 * in memory; the pack becomes the object PREFIX/packs/<16 hex id> when
 * sync() is called or when the next chunk would take it past pack_max.
 * While it grows, every part_size bytes go up as a part of a multipart
 * upload, so completing a large pack sends only its tail; a pack that
 * never reached one part is sent with a single PUT.  Parts and the whole
 * object are checked against their MD5s (ETag).
 *
 * The open pack's bytes stay in memory until it is complete, so:
 *   - a chunk of it is read from memory (nothing of it is readable in S3
 *     before it is complete);
 *   - a part or a completion that fails is simply tried again by the next
 *     put or sync (an upload that S3 forgot, 404 NoSuchUpload, is started
 *     again from the bytes in memory), and sync() returns 0 only once the
 *     pack is an object: nothing put is durable before.
 *
 * Container ids are random 62-bit numbers (positive as an int64, for the
 * metadata's INTEGER columns), so processes sharing a bucket need no
 * coordination; a pack id that already exists in the bucket is chance
 * enough (2^-62 per pair) not to check.
 *
 * Locking: mu orders the writers (put, sync, and the uploads they make,
 * which happen with mu held); readers never take it, only rd_mu, which
 * guards which pack is open and how many of its bytes are written.  The
 * open pack's buffer never moves (it is allocated at its full size), so a
 * reader copies a chunk under rd_mu while a writer appends after it.
 */
#include "chunkstore.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <xxhash.h>

#include "chunk_record.h"
#include "log.h"
#include "s3.h"
#include "vec.h"

#define DEFAULT_PACK_MAX ((uint64_t)64 << 20)
#define DEFAULT_PART_SIZE ((uint64_t)8 << 20)
#define ID_MASK (((uint64_t)1 << 62) - 1)
#define KEY_MAX 1200

typedef struct s3_pack {
    uint64_t id;
    char key[KEY_MAX];
    uint8_t *buf;
    size_t cap, len; /* len: bytes written (readers: under rd_mu) */
    char *upload_id; /* multipart upload, NULL before the first part */
    vec parts;       /* of s3_part */
    size_t sent;     /* bytes the parts cover */
} s3_pack;

typedef struct s3_store {
    s3_client *cli;
    char *prefix; /* "PREFIX/packs/" (or "packs/") */
    char *url;    /* for messages: s3://BUCKET/PREFIX */
    uint64_t pack_max, part_size;
    pthread_mutex_t mu; /* writers; held across uploads */
    pthread_mutex_t rd_mu; /* guards open and open->len */
    s3_pack *open; /* NULL until the first put after a completion */
} s3_store;

static void pack_key(const s3_store *s, uint64_t id, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s%016" PRIx64, s->prefix, id);
}

static void pack_free(s3_pack *p)
{
    if (!p)
        return;
    free(p->buf);
    free(p->upload_id);
    vec_free(&p->parts);
    free(p);
}

/* A new empty pack able to hold at least need bytes. */
static s3_pack *pack_new(const s3_store *s, size_t need, es_err *err)
{
    uint64_t id = 0;
    while (id == 0) {
        if (getrandom(&id, sizeof id, 0) != sizeof id) {
            es_errf(err, 500, "random pack id: getrandom failed");
            return NULL;
        }
        id &= ID_MASK;
    }
    s3_pack *p = calloc(1, sizeof *p);
    size_t cap = need > s->pack_max ? need : (size_t)s->pack_max;
    if (!p || !(p->buf = malloc(cap))) {
        free(p);
        es_errf(err, 500, "out of memory (a %zu-byte pack)", cap);
        return NULL;
    }
    p->id = id;
    p->cap = cap;
    p->parts = VEC_INIT(s3_part);
    pack_key(s, id, p->key, sizeof p->key);
    return p;
}

/* ---- uploading the open pack ---------------------------------------------
 * mu held. */

/* Sends parts of part_size while that much is unsent; with last set, the
 * rest too. */
static int send_parts(s3_store *s, s3_pack *p, int last, es_err *err)
{
    while (p->len - p->sent >= s->part_size || (last && p->len > p->sent)) {
        if (!p->upload_id &&
            s3_multipart_create(s->cli, p->key, &p->upload_id, err) < 0)
            return -1;
        size_t n = p->len - p->sent;
        if (n > s->part_size)
            n = (size_t)s->part_size;
        s3_part *part = vec_grow(&p->parts);
        if (!part)
            return es_errf(err, 500, "out of memory");
        if (s3_multipart_upload_part(s->cli, p->key, p->upload_id,
                                     (int)p->parts.n, p->buf + p->sent, n,
                                     part, err) < 0) {
            p->parts.n--;
            return -1;
        }
        p->sent += n;
    }
    return 0;
}

/* S3 forgot the upload (404 NoSuchUpload): start it again from memory. */
static void restart_upload(s3_pack *p)
{
    free(p->upload_id);
    p->upload_id = NULL;
    p->parts.n = 0;
    p->sent = 0;
}

/* A completion whose answer was lost may have worked: the object is
 * there, as long as the pack. */
static int pack_is_there(void *ctx, const s3_object *o)
{
    const s3_pack *p = ctx;
    return strcmp(o->key, p->key) == 0 && o->size == p->len;
}

/* Makes p a readable object. */
static int pack_complete(s3_store *s, s3_pack *p, es_err *err)
{
    if (!p->upload_id && p->len < s->part_size)
        return s3_put_object(s->cli, p->key, p->buf, p->len, err);
    int rc = send_parts(s, p, 1, err);
    if (rc == 0)
        rc = s3_multipart_complete(s->cli, p->key, p->upload_id,
                                   p->parts.items, p->parts.n, err);
    if (rc < 0 && err->status == 404) {
        es_err e2;
        if (s3_list(s->cli, p->key, pack_is_there, p, &e2) == 1)
            return 0;
        restart_upload(p);
    }
    return rc;
}

/* Completes the open pack, if any, and forgets it. */
static int seal_open(s3_store *s, es_err *err)
{
    s3_pack *p = s->open;
    if (!p)
        return 0;
    if (p->len > 0 && pack_complete(s, p, err) < 0)
        return -1;
    pthread_mutex_lock(&s->rd_mu);
    s->open = NULL;
    pthread_mutex_unlock(&s->rd_mu);
    pack_free(p);
    return 0;
}

static int s3_put(void *be, const void *data, size_t len, chunk_loc *out,
                  es_err *err)
{
    s3_store *s = be;
    if (len > UINT32_MAX)
        return es_errf(err, 500, "chunk too large");
    size_t rec = CHUNK_REC_HEADER + len;
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    if (s->open && s->open->len + rec > s->open->cap)
        rc = seal_open(s, err);
    if (rc == 0 && !s->open) {
        s3_pack *p = pack_new(s, rec, err);
        pthread_mutex_lock(&s->rd_mu);
        s->open = p;
        pthread_mutex_unlock(&s->rd_mu);
        rc = p ? 0 : -1;
    }
    if (rc == 0) {
        s3_pack *p = s->open;
        chunk_loc loc = {.container = p->id, .offset = p->len};
        chunk_rec_header(p->buf + p->len, data, (uint32_t)len, &loc);
        memcpy(p->buf + p->len + CHUNK_REC_HEADER, data, len);
        pthread_mutex_lock(&s->rd_mu);
        p->len += rec;
        pthread_mutex_unlock(&s->rd_mu);
        *out = loc;
        /* The chunk is taken either way: a part that did not go up now
         * goes with the next put or at sync, which reports the failure. */
        es_err perr;
        if (send_parts(s, p, 0, &perr) < 0)
            log_msg(LOG_LVL_WARN, "s3 chunk store: part of pack %016" PRIx64
                    " not sent (%s); tried again later", p->id, perr.msg);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* ---- reading ---------------------------------------------------------------
 */

static int corrupt(const s3_store *s, const chunk_loc *loc, const char *why,
                   es_err *err)
{
    fprintf(stderr,
            "elvesd: CORRUPT chunk in %s/packs/%016" PRIx64 " at offset %" PRIu64
            " (%" PRIu32 " bytes): %s\n",
            s->url, loc->container, loc->offset, loc->length, why);
    return es_errf(err, 500, "corrupt chunk in pack %016" PRIx64 ": %s",
                   loc->container, why);
}

/* The record at loc (header and bytes, CHUNK_REC_HEADER + loc->length)
 * into rec: from the open pack's memory if it is that one, else with one
 * ranged GET.  The header is checked against loc; the bytes are not
 * hashed. */
static int read_record(s3_store *s, const chunk_loc *loc, uint8_t *rec,
                       es_err *err)
{
    size_t n = CHUNK_REC_HEADER + (size_t)loc->length;
    int in_memory = 0, short_read = 0;
    pthread_mutex_lock(&s->rd_mu);
    if (s->open && s->open->id == loc->container) {
        in_memory = 1;
        if (loc->offset > s->open->len || n > s->open->len - loc->offset)
            short_read = 1;
        else
            memcpy(rec, s->open->buf + loc->offset, n);
    }
    pthread_mutex_unlock(&s->rd_mu);
    if (short_read)
        return corrupt(s, loc, "past the end of the open pack", err);
    if (!in_memory) {
        char key[KEY_MAX];
        pack_key(s, loc->container, key, sizeof key);
        if (s3_get_range(s->cli, key, loc->offset, n, rec, err) < 0) {
            if (err->status == 404)
                return es_errf(err, 404, "pack %016" PRIx64 " is gone",
                               loc->container);
            if (err->status == 500) /* an answer, but not the record */
                return corrupt(s, loc, err->msg, err);
            return -1;
        }
    }
    const char *why = chunk_rec_check(rec, loc);
    return why ? corrupt(s, loc, why, err) : 0;
}

static uint8_t *record_buf(const chunk_loc *loc, es_err *err)
{
    uint8_t *rec = malloc(CHUNK_REC_HEADER + (size_t)loc->length);
    if (!rec)
        es_errf(err, 500, "out of memory");
    return rec;
}

static int s3_fetch(void *be, const chunk_loc *loc, void *buf, es_err *err)
{
    uint8_t *rec = record_buf(loc, err);
    if (!rec)
        return -1;
    int rc = read_record(be, loc, rec, err);
    if (rc == 0)
        memcpy(buf, rec + CHUNK_REC_HEADER, loc->length);
    free(rec);
    return rc;
}

static int s3_get(void *be, const chunk_loc *loc, uint64_t off, size_t len,
                  void *buf, es_err *err)
{
    if (off > loc->length || len > loc->length - off)
        return es_errf(err, 500, "chunk range out of bounds");
    uint8_t *rec = record_buf(loc, err);
    if (!rec)
        return -1;
    int rc = read_record(be, loc, rec, err);
    if (rc == 0 &&
        XXH3_64bits(rec + CHUNK_REC_HEADER, loc->length) != loc->checksum)
        rc = corrupt(be, loc, "checksum mismatch", err);
    if (rc == 0)
        memcpy(buf, rec + CHUNK_REC_HEADER + off, len);
    free(rec);
    return rc;
}

static int s3_del(void *be, const chunk_loc *loc, es_err *err)
{
    /* Packs are immutable: the bytes stay until the pack is dropped. */
    (void)be;
    (void)loc;
    (void)err;
    return 0;
}

/* ---- containers --------------------------------------------------------- */

typedef struct list_ctx {
    const s3_store *s;
    vec *out; /* of chunk_container */
} list_ctx;

#define LIST_OOM 2 /* list_one's "stop: out of memory" */

static int list_one(void *arg, const s3_object *o)
{
    list_ctx *lc = arg;
    size_t pl = strlen(lc->s->prefix);
    const char *hex = o->key + pl;
    char *end;
    if (strncmp(o->key, lc->s->prefix, pl) != 0 || strlen(hex) != 16)
        return 0; /* not a pack of ours */
    uint64_t id = strtoull(hex, &end, 16);
    if (*end != '\0' || id == 0)
        return 0;
    chunk_container c = {id, o->size, 0, o->mtime};
    return vec_push(lc->out, &c) < 0 ? LIST_OOM : 0;
}

static int cmp_container(const void *a, const void *b)
{
    uint64_t x = ((const chunk_container *)a)->id;
    uint64_t y = ((const chunk_container *)b)->id;
    return x < y ? -1 : x > y;
}

static int s3_iterate(void *be, int (*fn)(void *ctx, const chunk_container *c),
                      void *ctx, es_err *err)
{
    s3_store *s = be;
    vec all = VEC_INIT(chunk_container);
    list_ctx lc = {s, &all};
    int rc = s3_list(s->cli, s->prefix, list_one, &lc, err);
    if (rc == LIST_OOM)
        rc = es_errf(err, 500, "out of memory");
    chunk_container open = {0, 0, 1, 0};
    pthread_mutex_lock(&s->rd_mu);
    if (s->open) {
        open.id = s->open->id;
        open.bytes = s->open->len;
    }
    pthread_mutex_unlock(&s->rd_mu);
    if (rc == 0 && open.id && vec_push(&all, &open) < 0)
        rc = es_errf(err, 500, "out of memory");
    if (rc == 0 && all.n)
        qsort(all.items, all.n, all.size, cmp_container);
    for (size_t i = 0; rc == 0 && i < all.n; i++)
        rc = fn(ctx, &VEC_AT(&all, chunk_container, i));
    vec_free(&all);
    return rc;
}

static int s3_drop(void *be, uint64_t container, es_err *err)
{
    s3_store *s = be;
    pthread_mutex_lock(&s->rd_mu);
    int open_pack = s->open && s->open->id == container;
    pthread_mutex_unlock(&s->rd_mu);
    if (open_pack)
        return es_errf(err, 500, "refusing to drop the open pack");
    char key[KEY_MAX];
    pack_key(s, container, key, sizeof key);
    return s3_delete_object(s->cli, key, err);
}

static int s3_sync(void *be, es_err *err)
{
    s3_store *s = be;
    pthread_mutex_lock(&s->mu);
    int rc = seal_open(s, err);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static void s3_close(void *be)
{
    s3_store *s = be;
    if (!s)
        return;
    if (s->open && s->open->upload_id) {
        /* Never synced, so nothing refers to it: let S3 forget the parts. */
        es_err err;
        if (s3_multipart_abort(s->cli, s->open->key, s->open->upload_id,
                               &err) < 0)
            log_msg(LOG_LVL_WARN, "s3 chunk store: abort of %s: %s",
                    s->open->key, err.msg);
    }
    pack_free(s->open);
    s3_client_free(s->cli);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->rd_mu);
    free(s->prefix);
    free(s->url);
    free(s);
}

static const chunkstore_ops s3_ops = {
    .version = CHUNKSTORE_OPS_VERSION,
    .name = "s3",
    .put = s3_put,
    .get = s3_get,
    .fetch = s3_fetch,
    .del = s3_del,
    .iterate = s3_iterate,
    .drop = s3_drop,
    .sync = s3_sync,
    .close = s3_close,
};

static char *str_printf(const char *a, const char *sep, const char *b)
{
    size_t n = strlen(a) + strlen(sep) + strlen(b) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s%s", a, sep, b);
    return s;
}

int chunkstore_s3_open(chunkstore *out, const struct s3_config *cfg,
                       uint64_t pack_max, uint64_t part_size, es_err *err)
{
    s3_store *s = calloc(1, sizeof *s);
    if (!s)
        return es_errf(err, 500, "out of memory");
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->rd_mu, NULL);
    s->pack_max = pack_max ? pack_max : DEFAULT_PACK_MAX;
    s->part_size = part_size ? part_size : DEFAULT_PART_SIZE;
    if (s->part_size < S3_PART_MIN)
        s->part_size = S3_PART_MIN;
    const char *prefix = cfg->prefix ? cfg->prefix : "";
    s->prefix = str_printf(prefix, *prefix ? "/" : "", "packs/");
    char bucket[128];
    snprintf(bucket, sizeof bucket, "s3://%s", cfg->bucket);
    s->url = str_printf(bucket, *prefix ? "/" : "", prefix);
    if (!s->prefix || !s->url) {
        s3_close(s);
        return es_errf(err, 500, "out of memory");
    }
    if (s3_client_new(&s->cli, cfg, err) < 0 ||
        s3_head_bucket(s->cli, err) < 0) {
        es_errf(err, err->status, "chunk store %s at %s: %s", s->url,
                cfg->endpoint, err->msg);
        s3_close(s);
        return -1;
    }
    out->ops = &s3_ops;
    out->be = s;
    return 0;
}
