/*
 * store_migrate.c - `elvesd migrate`: a single-node store (SQLite and
 * pack files in the data directory) copied into PostgreSQL and an S3
 * chunk store, then read back and checked file by file.
 *
 * Order, so that an interruption at any point leaves a target that the
 * next run completes and that never names bytes it does not hold:
 *   1. checks: a database in the data directory that no running process
 *      has open; a target on the same schema that holds nothing but an
 *      earlier run's copy (meta_copy_open), and a bucket prefix with no
 *      packs while the target database is empty (another store's);
 *   2. the spool files of file versions not yet compressed go to the
 *      bucket as PREFIX/spool/NAME (spool_remote.c), before their rows:
 *      replicas then compress them and serve them meanwhile, as they do
 *      any upload (refusing until elvesd emptied its queue would make the
 *      user restart the old server and wait, for nothing the copy cannot
 *      do itself);
 *   3. the rows that name no chunk (meta_copy_rows, first stage);
 *   4. the chunks in batches: each read from the local packs (its
 *      checksum checked), put into S3, synced, then its rows recorded at
 *      the new locations in one transaction.  A chunk the target records
 *      is not read again; one uploaded by a run cut before its batch's
 *      commit is only bytes in a pack no row names, which GC drops once
 *      it is older than the grace time (gc.c, collect_container);
 *   5. the rows that name chunks and tensors (second stage; the target's
 *      triggers count the references), the id sequences, and a check that
 *      row counts and reference counts match the source's;
 *   6. every file version read back through a store opened on the target
 *      (no workers) by the normal read path, its SHA-256 compared with
 *      the source's files.sha256; a spooled one is read from its spool
 *      object.
 * The source is only read (meta_open applies missing migrations to it, as
 * elvesd's start would).
 */
#include "store_internal.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define CHUNK_BATCH 64           /* chunks per upload + transaction */
#define VERIFY_BUF ((size_t)4 << 20)

typedef struct migration {
    const store_migrate_config *cfg;
    store_migrate_report *rep;
    meta *src, *dst;
    chunkstore src_cs, dst_cs;
    meta_copy *copy;
    char spool_dir[4200];
} migration;

static double since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) +
           (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ---- 1. checks ----------------------------------------------------------- */

/* A process other than this one with the file open (its pid), 0 if none
 * that /proc lets us see.  Cheap enough for a one-off command: elvesd
 * keeps its database open for as long as it runs. */
static long holder_of(const char *path)
{
    char real[PATH_MAX];
    if (!realpath(path, real))
        return 0;
    DIR *proc = opendir("/proc");
    if (!proc)
        return 0;
    long self = (long)getpid(), found = 0;
    struct dirent *p;
    while (!found && (p = readdir(proc)) != NULL) {
        char *end;
        long pid = strtol(p->d_name, &end, 10);
        if (*end || pid <= 0 || pid == self)
            continue;
        char fds[64];
        snprintf(fds, sizeof fds, "/proc/%ld/fd", pid);
        DIR *d = opendir(fds);
        struct dirent *f;
        while (d && !found && (f = readdir(d)) != NULL) {
            char link[384], target[PATH_MAX];
            snprintf(link, sizeof link, "%s/%s", fds, f->d_name);
            ssize_t n = readlink(link, target, sizeof target - 1);
            if (n > 0) {
                target[n] = '\0';
                found = strcmp(target, real) == 0 ? pid : 0;
            }
        }
        if (d)
            closedir(d);
    }
    closedir(proc);
    return found;
}

int store_at_rest(const char *data_dir, const char *why, es_err *err)
{
    char db[4200];
    snprintf(db, sizeof db, "%s/elves.db", data_dir);
    long pid = holder_of(db);
    if (pid)
        return es_errf(err, 409,
                       "%s is open in process %ld (a running elvesd?): stop "
                       "it first, %s",
                       db, pid, why);
    return 0;
}

static int check_source(const char *data_dir, es_err *err)
{
    char db[4200];
    struct stat sb;
    snprintf(db, sizeof db, "%s/elves.db", data_dir);
    if (stat(db, &sb) < 0)
        return es_errf(err, 404, "no store in %s (no elves.db): nothing to "
                       "migrate", data_dir);
    return store_at_rest(data_dir, "migrate copies a store at rest", err);
}

static int count_sealed(void *arg, const chunk_container *c)
{
    *(int64_t *)arg += !c->open;
    return 0;
}

/* Packs in the prefix while the target database is empty belong to
 * another store: its GC would drop them as garbage, or ours theirs.  (A
 * run cut in stage 4 left repositories in the database already.) */
static int check_bucket(migration *m, es_err *err)
{
    int empty = meta_copy_target_empty(m->copy, err);
    int64_t packs = 0;
    if (empty <= 0)
        return empty;
    if (chunkstore_iterate(&m->dst_cs, count_sealed, &packs, err) < 0)
        return -1;
    if (packs > 0)
        return es_errf(err, 409,
                       "the chunk store %s already holds %lld pack(s) but "
                       "the target database is empty: it is another store's "
                       "(migrate into an empty prefix)",
                       m->cfg->to_chunk_store, (long long)packs);
    return 0;
}

/* ---- opening both sides ------------------------------------------------ */

static int open_sides(migration *m, es_err *err)
{
    const store_migrate_config *cfg = m->cfg;
    char path[4200];
    snprintf(path, sizeof path, "%s/elves.db", cfg->data_dir);
    meta_config src = {.backend = "sqlite", .path = path};
    meta_config dst = {.backend = "postgres", .url = cfg->to_database};
    if (meta_open(&m->src, &src, err) < 0 || meta_open(&m->dst, &dst, err) < 0)
        return -1;
    snprintf(path, sizeof path, "%s/packs", cfg->data_dir);
    snprintf(m->spool_dir, sizeof m->spool_dir, "%s/spool", cfg->data_dir);
    chunkstore_config scs = {.backend = "fs", .dir = path};
    chunkstore_config dcs = {.backend = "s3",
                             .s3_url = cfg->to_chunk_store,
                             .s3_access_key = cfg->s3_access_key,
                             .s3_secret_key = cfg->s3_secret_key};
    if (chunkstore_open(&m->src_cs, &scs, err) < 0 ||
        chunkstore_open(&m->dst_cs, &dcs, err) < 0)
        return -1;
    return meta_copy_open(&m->copy, m->src, m->dst, err);
}

static void close_sides(migration *m)
{
    meta_copy_free(m->copy);
    chunkstore_close(&m->dst_cs);
    chunkstore_close(&m->src_cs);
    meta_close(m->dst);
    meta_close(m->src);
}

/* ---- 2. spool files ------------------------------------------------------ */

typedef struct spool_up {
    es_store st; /* spool_dir and spool_remote only: spool_remote_put's */
    migration *m;
    es_err *err;
} spool_up;

static int put_spool(void *arg, const meta_file *f)
{
    spool_up *u = arg;
    if (spool_remote_put(&u->st, f->spool, f->upload_size, u->err) < 0)
        return es_errf(u->err, u->err->status,
                       "spool file %s of file version %lld: %s", f->spool,
                       (long long)f->id, u->err->msg);
    u->m->rep->spools_new++;
    return 0;
}

static int copy_spools(migration *m, es_err *err)
{
    spool_up u = {.m = m, .err = err};
    u.st.spool_dir = m->spool_dir;
    const store_migrate_config *cfg = m->cfg;
    if (spool_remote_open(&u.st, cfg->to_chunk_store, cfg->s3_access_key,
                          cfg->s3_secret_key, err) < 0)
        return -1;
    int rc = meta_copy_file_each(m->copy, 1, put_spool, &u, err);
    spool_remote_close(&u.st);
    return rc;
}

/* ---- 4. chunks ----------------------------------------------------------- */

/* Moves rows[0..n) into the target's chunk store; their locations become
 * the new ones. */
typedef struct byte_buf {
    uint8_t *p;
    size_t cap;
} byte_buf;

static int move_chunks(migration *m, meta_copy_chunk *rows, size_t n,
                       byte_buf *buf, es_err *err)
{
    for (size_t i = 0; i < n; i++) {
        meta_chunk_new *k = &rows[i].c;
        chunk_loc from = {k->container, k->offset, k->length, k->checksum};
        chunk_loc to;
        if (buf->cap < k->length) {
            uint8_t *p = realloc(buf->p, k->length);
            if (!p)
                return es_errf(err, 500, "out of memory");
            buf->p = p;
            buf->cap = k->length;
        }
        if (chunkstore_get(&m->src_cs, &from, 0, k->length, buf->p, err) < 0 ||
            chunkstore_put(&m->dst_cs, buf->p, k->length, &to, err) < 0)
            return es_errf(err, err->status, "chunk %lld: %s",
                           (long long)rows[i].id, err->msg);
        if (to.checksum != k->checksum)
            return es_errf(err, 500, "chunk %lld changed on its way",
                           (long long)rows[i].id);
        k->container = to.container;
        k->offset = to.offset;
        m->rep->chunks_new++;
        m->rep->bytes_new += k->length;
    }
    return n ? chunkstore_sync(&m->dst_cs, err) : 0;
}

static int copy_chunks(migration *m, es_err *err)
{
    meta_copy_chunk rows[CHUNK_BATCH];
    byte_buf buf = {NULL, 0};
    int64_t after = 0;
    int rc;
    for (;;) {
        size_t n;
        int64_t last, present;
        rc = meta_copy_chunks_next(m->copy, after, rows, CHUNK_BATCH, &n,
                                   &last, &present, err);
        if (rc <= 0)
            break;
        if ((rc = move_chunks(m, rows, n, &buf, err)) < 0 ||
            (n && (rc = meta_copy_chunks_add(m->copy, rows, n, err)) < 0))
            break;
        after = last;
    }
    free(buf.p);
    return rc;
}

/* ---- 6. verification ------------------------------------------------------ */

typedef struct verifier {
    es_store *st;
    store_migrate_report *rep;
    uint8_t *buf;
    int64_t bad;
    es_err *err;
} verifier;

/* The SHA-256 of the file version as the target serves it. */
static int read_back(verifier *v, const meta_file *f, char hex[65],
                     es_err *err)
{
    store_file sf = {.file_id = f->id, .size = f->size};
    memcpy(sf.sha256, f->sha256, sizeof sf.sha256);
    memcpy(sf.state, f->state, sizeof sf.state);
    store_reader *r;
    elves_sha256_ctx *h;
    if (elves_sha256_new(&h) != 0)
        return es_errf(err, 500, "out of memory");
    int rc = store_reader_open(v->st, &sf, &r, err), opened = rc == 0;
    for (uint64_t off = 0; rc == 0 && off < f->size;) {
        size_t got;
        rc = store_reader_read(r, off, v->buf, VERIFY_BUF, &got, err);
        if (rc == 0 && got == 0)
            rc = es_errf(err, 500, "ends at byte %llu of %llu",
                         (unsigned long long)off,
                         (unsigned long long)f->size);
        if (rc == 0)
            elves_sha256_update(h, v->buf, got);
        off += rc == 0 ? got : 0;
    }
    if (opened)
        store_reader_close(r);
    uint8_t digest[32];
    elves_sha256_final(h, digest);
    elves_sha256_free(h);
    elves_hex(hex, digest, 32);
    return rc;
}

static int verify_one(void *arg, const meta_file *f)
{
    verifier *v = arg;
    es_err e = {0};
    char hex[65];
    if (strcmp(f->state, "failed") == 0)
        return 0; /* nothing to serve */
    v->rep->verifiable++;
    if (read_back(v, f, hex, &e) < 0) {
        log_msg(LOG_LVL_ERROR, "migrate: file version %lld (%s): %s",
                (long long)f->id, f->state, e.msg);
        v->bad++;
    } else if (strcmp(hex, f->sha256) != 0) {
        log_msg(LOG_LVL_ERROR,
                "migrate: file version %lld (%s) reads back with SHA-256 "
                "%s, not %s",
                (long long)f->id, f->state, hex, f->sha256);
        v->bad++;
    } else {
        v->rep->verified++;
    }
    return 0;
}

/* A store on the target in a scratch directory (its spool and packs
 * directories stay empty: every byte is read from the target). */
static int verify(migration *m, es_err *err)
{
    const store_migrate_config *cfg = m->cfg;
    char dir[4200], sub[4300];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/elvesd-migrate.XXXXXX", tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return es_errf(err, 500, "mkdtemp %s: %s", dir, strerror(errno));
    store_config sc = {.data_dir = dir,
                       .database = cfg->to_database,
                       .chunk_store = cfg->to_chunk_store,
                       .s3_access_key = cfg->s3_access_key,
                       .s3_secret_key = cfg->s3_secret_key,
                       .workers = 1,
                       .decode_threads = 2,
                       .no_workers = 1};
    verifier v = {.rep = m->rep, .err = err};
    int rc = store_open(&v.st, &sc, err);
    if (rc == 0 && !(v.buf = malloc(VERIFY_BUF)))
        rc = es_errf(err, 500, "out of memory");
    if (rc == 0)
        rc = meta_copy_file_each(m->copy, 0, verify_one, &v, err);
    free(v.buf);
    store_close(v.st);
    const char *subs[] = {"spool", "packs", ""};
    for (size_t i = 0; i < 3; i++) {
        snprintf(sub, sizeof sub, "%s/%s", dir, subs[i]);
        rmdir(sub);
    }
    if (rc == 0 && v.bad > 0)
        rc = es_errf(err, 500,
                     "%lld of %lld file versions do not read back as they "
                     "were (see above)",
                     (long long)v.bad, (long long)m->rep->verifiable);
    return rc;
}

/* ---- the whole ---------------------------------------------------------------- */

static int copy_all(migration *m, es_err *err)
{
    meta_copy_summary s;
    int64_t rows;
    if (meta_copy_summary_get(m->copy, &s, err) < 0 || check_bucket(m, err) < 0)
        return -1;
    store_migrate_report *r = m->rep;
    r->repos = s.repos;
    r->tokens = s.tokens;
    r->files = s.files;
    r->files_stored = s.files_stored;
    r->files_spooled = s.files_spooled;
    r->files_failed = s.files_failed;
    r->logical_bytes = s.logical_bytes;
    r->chunks = s.chunks;
    r->chunk_bytes = s.chunk_bytes;
    log_msg(LOG_LVL_INFO, "migrate: copying %lld file versions, %lld chunks",
            (long long)s.files, (long long)s.chunks);
    if (copy_spools(m, err) < 0 ||
        meta_copy_rows(m->copy, META_COPY_BEFORE_CHUNKS, &rows, err) < 0)
        return -1;
    r->rows_new += rows;
    if (copy_chunks(m, err) < 0 ||
        meta_copy_rows(m->copy, META_COPY_AFTER_CHUNKS, &rows, err) < 0)
        return -1;
    r->rows_new += rows + r->chunks_new;
    return meta_copy_finish(m->copy, err);
}

int store_migrate(const store_migrate_config *cfg, store_migrate_report *out,
                  es_err *err)
{
    migration m = {.cfg = cfg, .rep = out};
    struct timespec t0;
    memset(out, 0, sizeof *out);
    if (!cfg->to_database || strncmp(cfg->to_chunk_store ? cfg->to_chunk_store
                                                         : "",
                                     "s3://", 5) != 0)
        return es_errf(err, 400, "migrate needs a postgres:// database and "
                       "an s3:// chunk store");
    if (check_source(cfg->data_dir, err) < 0)
        return -1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = open_sides(&m, err);
    if (rc == 0)
        rc = copy_all(&m, err);
    out->copy_s = since(&t0);
    if (rc == 0) {
        log_msg(LOG_LVL_INFO, "migrate: copied; reading every file back");
        clock_gettime(CLOCK_MONOTONIC, &t0);
        rc = verify(&m, err);
        out->verify_s = since(&t0);
    }
    close_sides(&m);
    return rc;
}
