/*
 * store_internal.h - what the storage files of elvesd share behind store.h:
 * the es_store struct and the functions one module offers another
 * (store.c, paths.c, repo.c, spool.c, jobs.c, ingest.c, reader.c, gc.c,
 * stats.c, ...).  Only server/store/ and its unit tests include it.
 */
#ifndef ELVESD_STORE_INTERNAL_H
#define ELVESD_STORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "chunkstore.h"
#include "meta.h"
#include "store.h"
#include "util.h"
#include "vec.h"

typedef struct jobs_pool jobs_pool;
typedef struct block_cache block_cache;
typedef struct decode_pool decode_pool;
typedef struct base_maps base_maps;
typedef struct spool_remote spool_remote;

struct es_store {
    char *data_dir;
    int lock_fd; /* data_dir/lock, held with flock while open; -1 none */
    char *spool_dir;
    char *packs_dir;
    unsigned workers;
    unsigned decode_threads;
    size_t cache_bytes;
    double compact_below;
    /* Several elvesd share the database and chunk store (a postgres://
     * database): jobs are leased, renewed and taken over (jobs.c). */
    int shared;
    int64_t job_lease_s;
    char *database;     /* store_config.database, or NULL */
    int64_t gc_grace_s; /* store_config.gc_grace_s */
    int (*wrap_chunks)(chunkstore *cs, void *ctx, es_err *err);
    int (*wrap_meta)(meta **m, void *ctx, es_err *err);
    void *wrap_meta_ctx;
    void *wrap_ctx;

    meta *meta; /* the metadata backend (meta.h) */
    chunkstore cs;
    spool_remote *spool_remote; /* S3 copies of spool files, or NULL */

    /* Jobs hold it shared from their first chunk lookup to their commit;
     * garbage collection holds it exclusively, so GC never frees or moves
     * a chunk that a job is about to reference. */
    pthread_rwlock_t gc_lock;
    pthread_mutex_t gc_mu; /* one collection at a time */

    jobs_pool *jobs;
    block_cache *cache;
    decode_pool *decoders;
    atomic_int stopping;

    /* Delta coding (base.c): where delta blocks find their base tensors'
     * decoded bytes, and the block maps of the bases read lately. */
    elves_base_src base_src;
    base_maps *bases;
};

/* ---- reader.c (besides store.h's readers) ----------------------------- */
/* Copies decoded bytes [from, from + n) of one block through the shared
 * decoded-block cache (decoding it if no reader has). */
int reader_block_copy(es_store *st, int64_t chunk_id, const chunk_loc *loc,
                      uint32_t raw_len, uint64_t from, size_t n, uint8_t *out,
                      es_err *err);

/* ---- base.c: delta coding against base tensors ------------------------ */
int base_init(es_store *st, es_err *err);
void base_shutdown(es_store *st);

/* The base tensors a file version is coded against: the lossless tensors
 * of the root of its repository's declared base chain, by segment name. */
typedef struct base_plan base_plan;
/* *out NULL when the file's repository declares no base and none is
 * detected for its segments (segs of src), or the base cannot be found (a
 * warning is logged and the file is coded alone). */
int base_plan_load(es_store *st, int64_t job_id, const elves_segments *segs,
                   const uint8_t *src, base_plan **out, es_err *err);
void base_plan_free(base_plan *p);
/* The base tensor for a segment (same name, dtype, shape, length): 1 with
 * its id and 16-byte fingerprint, 0 if none. */
int base_plan_match(const base_plan *p, const elves_segment *seg,
                    const char *shape_json, int64_t *id, elves_fp128 *fp);
/* The repository the plan's base tensors come from ("org/name"). */
const char *base_plan_repo(const base_plan *p);

/* ---- paths.c ---------------------------------------------------------- */
int store_mode_valid(const char *mode);
/* The path of the spool file named `name`. */
void store_spool_path(const es_store *st, const char *name, char *buf,
                      size_t cap);

/* ---- repo.c ----------------------------------------------------------- */
/* What a transaction released: spool names to unlink once it has
 * committed, and how many file versions it deleted (their chunks may now be
 * garbage). */
typedef struct name_list {
    vec names; /* of char *, owned */
    size_t released;
} name_list;
#define NAME_LIST_INIT ((name_list){VEC_INIT(char *), 0})
int name_list_add(name_list *l, const char *name);
/* Ends a transaction that may have released file versions: rc < 0 rolls
 * it back; else it commits, unlinks the released spool files and asks for
 * GC if any file version was deleted.  Frees dead; returns 0 or -1. */
int repo_tx_finish(es_store *st, meta_tx *tx, int rc, name_list *dead,
                   es_err *err);

/* ---- lookup.c --------------------------------------------------------- */
/* 400 unless name is a valid "org/name" / path is valid. */
int repo_name_check(const char *name, es_err *err);
int path_check(const char *path, es_err *err);
/* Inside a transaction: resolves repo -> (id, mode).  404 if missing. */
int repo_find(meta_tx *tx, const char *name, int64_t *id, char mode[16],
              es_err *err);
/* Inside a transaction: revision (branch, tag or commit id; NULL/"" =
 * main) -> commit id, 404 if unknown. */
int resolve_rev(meta_tx *tx, int64_t repo_id, const char *rev,
                char commit[41], es_err *err);

/* ---- repo.c ----------------------------------------------------------- */
/* Inside a transaction: makes a new commit on branch `revision` (NULL =
 * "main") of repo that sets `path` to file_id (0 = removes it; 404 if the
 * path is absent).  Files no longer listed by any head are deleted and
 * their spool names added to dead.  commit_out receives the new id. */
int repo_commit_change(meta_tx *tx, int64_t repo_id, const char *revision,
                       const char *path, int64_t file_id, const char *message,
                       char commit_out[41], name_list *dead, es_err *err);

/* ---- repo_hf.c --------------------------------------------------------- */
/* Appends a listing row as meta.h gives it (store_mirror.c shares it). */
struct hf_file_list;
int hf_file_list_add_entry(struct hf_file_list *l, const meta_hf_entry *e);

/* Also inside a transaction (repo_hf.c builds multi-file commits on them):
 * a new commit row with a fresh random id; a branch's head (400 for a
 * tag); whether path may be added to commit (409 if a file sits on one of
 * its parent directories or a directory at path); deleting file_id if no
 * branch or tag head lists it any more. */
int insert_commit(meta_tx *tx, int64_t repo_id, const char *parent,
                  const char *message, char id[41], es_err *err);
int branch_head(meta_tx *tx, int64_t repo_id, const char *branch,
                char head[41], es_err *err);
int check_no_clash(meta_tx *tx, const char *commit, const char *path,
                   es_err *err);
int release_if_dead(meta_tx *tx, int64_t file_id, name_list *dead,
                    es_err *err);

/* ---- spool_remote.c (S3 chunk store only) ------------------------------ */
int spool_remote_open(es_store *st, const char *url, const char *access_key,
                      const char *secret_key, es_err *err);
void spool_remote_close(es_store *st);
/* One upload's copy into the bucket while its body arrives. */
typedef struct spool_stream spool_stream;
/* The spool file tmp_name (whose object will be final_name) has grown to
 * size bytes.  Once it is larger than one part, *stream (NULL until then)
 * is started: a thread that sends every full part as a multipart part.
 * Waits while the bucket lags more than a few parts behind (backpressure).
 * 503 once the copy has failed (its multipart upload already aborted). */
int spool_remote_feed(es_store *st, spool_stream **stream,
                      const char *tmp_name, const char *final_name,
                      uint64_t size, es_err *err);
/* The copy of the sealed spool file `name` (size bytes) into the bucket:
 * the rest of stream (last part, complete) or, if none was started, one
 * PUT.  Frees stream.  503 on failure, the multipart upload aborted. */
int spool_remote_seal(es_store *st, spool_stream *stream, const char *name,
                      uint64_t size, es_err *err);
/* Copies the sealed spool file `name` (size bytes) into the bucket, as an
 * upload's stream and seal would (elvesd migrate).  503 on failure. */
int spool_remote_put(es_store *st, const char *name, uint64_t size,
                     es_err *err);
/* Drops a stream no seal will come for (NULL: nothing): its thread aborts
 * the multipart upload after the part in flight, then frees it. */
void spool_remote_cancel(spool_stream *stream);
/* Bytes of parts the bucket has acknowledged so far (tests). */
uint64_t spool_remote_streamed(spool_stream *stream);
/* Writes the bucket's copy of `name` as the local spool file. */
int spool_remote_fetch(es_store *st, const char *name, uint64_t size,
                       es_err *err);
/* Calls fn with the name and LastModified of every spool object in the
 * bucket; fn returning non-zero stops the walk with that value. */
int spool_remote_each(es_store *st,
                      int (*fn)(void *ctx, const char *name, int64_t mtime),
                      void *ctx, es_err *err);
/* 0 if the bucket answers (HEAD bucket), else -1 + why: for /readyz. */
int spool_remote_check(es_store *st, es_err *err);
/* Bytes [off, off+len) of the bucket's copy; 404 once it is gone. */
int spool_remote_read(es_store *st, const char *name, uint64_t off,
                      size_t len, void *buf, es_err *err);
/* Removes spool file `name`: the local file and the bucket's copy. */
void spool_remove(es_store *st, const char *name);

/* ---- spool.c ----------------------------------------------------------- */
/* Finishes the SHA-256 and makes the spool file durable under its final
 * name (fsync, rename, fsync dir).  sp must still be released. */
int spool_seal(store_spool *sp, char sha_hex[65], uint64_t *size,
               char final_name[80], es_err *err);
/* Frees sp; remove_file: also unlink its file (not sealed, or unused). */
void spool_release(store_spool *sp, int remove_file);
/* Bytes of sp the object store has acknowledged before its seal (0 when
 * nothing is streamed: a local spool, or a body of one part so far). */
uint64_t spool_streamed(store_spool *sp);
/* Inside a transaction: the file row (state spooled) of a sealed spool
 * file and its compression job; repo/path only label the job. */
int spool_record_file(meta_tx *tx, const char *repo, const char *path,
                      const char *spool_name, const char *sha256,
                      uint64_t size, const char *mode, int64_t *file_id,
                      int64_t *job_id, es_err *err);

/* ---- jobs.c ------------------------------------------------------------ */
int jobs_start(es_store *st, es_err *err);
void jobs_stop(es_store *st);
void jobs_notify(es_store *st);     /* a job was queued */
void jobs_request_gc(es_store *st); /* run store_gc when next idle */
/* Requeues jobs left 'running' by a previous process.  At open only. */
int jobs_requeue_running(es_store *st, es_err *err);
/* Finished job rows are kept this long (seconds), then GC deletes them
 * (gc.c). */
#define JOB_KEEP_S ((int64_t)7 * 24 * 3600)

/* Progress of a running job (in memory), or -1 if not running here. */
int64_t jobs_progress(es_store *st, int64_t job_id);

/* ---- ingest.c ---------------------------------------------------------- */
/* What ingest reports back to the worker. */
enum {
    INGEST_OK = 0,
    INGEST_FAILED = -1,
    INGEST_RETRY = -2,
    INGEST_STOPPED = -3,
    INGEST_LOST = -4 /* the job's lease ran out: its result is not ours */
};
/* Compresses one spooled file version into chunks and commits its
 * manifest, if the job is still running as claim number `attempt`
 * (meta.h: job_owned).  progress receives decoded bytes done as it goes. */
int ingest_file(es_store *st, int64_t job_id, int64_t attempt,
                int64_t file_id, _Atomic int64_t *progress, es_err *err);

/* ---- reader.c ---------------------------------------------------------- */
int reader_init(es_store *st, es_err *err);
void reader_shutdown(es_store *st);
/* Loads a stored file's block map: refs[i].loc = index into locs. */
typedef struct file_map {
    size_t n;
    elves_block_ref *refs; /* loc = chunk id */
    chunk_loc *locs;       /* where each block's chunk lives */
} file_map;
int file_map_load(es_store *st, int64_t file_id, file_map *out, es_err *err);
void file_map_free(file_map *m);

/* ---- gc.c -------------------------------------------------------------- */
/* Removes spool files that no row names.  At open only. */
int gc_orphan_spools(es_store *st, es_err *err);

/* 409 naming the process if one other than this has the SQLite database
 * of data_dir open (a running elvesd), saying why that matters; else 0
 * (store_migrate.c: what /proc lets us see). */
int store_at_rest(const char *data_dir, const char *why, es_err *err);

#endif /* ELVESD_STORE_INTERNAL_H */
