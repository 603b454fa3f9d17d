/*
 * store.h - the storage side of elvesd as the HTTP layer sees it.
 *
 * A store is the metadata database (SQLite or PostgreSQL), the chunk store, the spool
 * directory and the worker pool that compresses spooled files into chunks.
 * The API layers (api/, hf/) only call the functions below (and those of
 * store_hf.h); they never run SQL or touch chunk files themselves.
 *
 * Errors: functions return 0 on success and -1 on failure, filling the
 * es_err given (err.h).
 *
 * Thread-safety: every function may be called from any HTTP thread at once.
 */
#ifndef ELVESD_STORE_H
#define ELVESD_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "elves.h"
#include "err.h"

typedef struct es_store es_store;
struct chunkstore; /* chunkstore.h; only tests see inside */
struct meta;       /* meta.h; the same */

typedef struct store_config {
    const char *data_dir;  /* holds elves.db, packs/, spool/ */
    /* The metadata database: NULL for the SQLite file elves.db in
     * data_dir, or a PostgreSQL URL (postgres://USER[:PASS]@HOST:PORT/DB
     * or a libpq connection string) that several elvesd may share. */
    const char *database;
    /* GC frees a chunk or tensor only once nothing has referenced it for
     * this long, so a job of another process sharing the database that
     * just found it may still use it; 0 = at once (one process). */
    int64_t gc_grace_s;
    unsigned workers;      /* compression threads; 0 = number of cores */
    unsigned decode_threads; /* threads one download may use; 0 = cores */
    size_t cache_bytes;    /* decoded-block cache; 0 = default (64 MiB) */
    double compact_below;  /* compact packs whose live fraction < this */
    /* Where chunks and spool files go (README "Scaling out"): NULL = the
     * pack files in data_dir; an s3:// URL, shared by replicas, with these
     * credentials. */
    const char *chunk_store;
    const char *s3_access_key, *s3_secret_key;
    int64_t job_lease_s; /* a job claim lasts this long unless renewed;
                            0 = 60 */
    /* Tests only (NULL otherwise): called with the chunk store just
     * opened, may put a wrapper around it (see chunkstore.h), as SQLite's
     * test VFS wraps the real one to fail its Nth call. */
    int (*wrap_chunks)(struct chunkstore *cs, void *ctx, es_err *err);
    /* The same for the metadata backend just opened (meta.h): *m may be
     * replaced by a wrapper that owns it. */
    int (*wrap_meta)(struct meta **m, void *ctx, es_err *err);
    void *wrap_ctx;      /* given to wrap_chunks */
    void *wrap_meta_ctx; /* given to wrap_meta */
    /* 1: open for reading only: no crash recovery, GC or compression
     * workers (elvesd migrate reads back the store it just wrote). */
    int no_workers;
} store_config;

/* Opens (creating if needed) the data directory and database, applies
 * migrations, requeues jobs that were running, removes orphan spool files
 * and unreferenced chunks, and starts the worker pool. */
int store_open(es_store **out, const store_config *cfg, es_err *err);

/* Stops taking jobs, waits for the running ones to finish or abandons them
 * safely (they are requeued at next start), closes the database. */
void store_close(es_store *st);

/* ---- repositories ---------------------------------------------------------
 * Names are "org/name": each part 1..96 chars of [A-Za-z0-9._-], not
 * starting with '.' or '-', no "..". */
int store_repo_name_valid(const char *name);

/* Creates a repo with an initial empty commit on branch "main".  mode is
 * "lossless" or "elf" (NULL = lossless).  409 if it exists. Returns the
 * repo as JSON: {"name","mode","created","branches":{"main":"<commit>"},
 * "tags":{}}. */
int store_repo_create(es_store *st, const char *name, const char *mode,
                      json_t **out, es_err *err);
int store_repo_get(es_store *st, const char *name, json_t **out,
                   es_err *err);
/* Model families: the base model a repository's files are delta-coded
 * against, "org/name" or "org/name@revision" (NULL or "" removes it; 400
 * for another form).  It need not exist yet: a file whose base is missing
 * is coded alone.  Files already stored keep their coding. */
int store_repo_set_base(es_store *st, const char *name, const char *base,
                        es_err *err);
int store_base_spec_valid(const char *spec);
int store_repo_list(es_store *st, json_t **out, es_err *err);
/* Deletes the repo, its revisions and its references; space returns via GC. */
int store_repo_delete(es_store *st, const char *name, es_err *err);

/* ---- files ------------------------------------------------------------------
 * Paths are relative, '/'-separated, validated by store_path_valid: no
 * empty, "." or ".." component, no leading '/', no '\\', no NUL, no control
 * characters, at most 1024 bytes. */
int store_path_valid(const char *path);

/* Uploads go through a spool file that the HTTP layer fills. */
typedef struct store_spool store_spool;
int store_spool_begin(es_store *st, store_spool **out, es_err *err);
int store_spool_write(store_spool *sp, const void *data, size_t len,
                      es_err *err);
/* Discards a partial upload (client went away, bad checksum, ...). */
void store_spool_abort(store_spool *sp);

/* 0 if `repo` exists and `revision` names one of its branches ("main" if
 * NULL): lets an upload be refused (404, or 400 for a tag) before its body
 * travels.  The commit checks again, as the branch may go in between. */
int store_branch_check(es_store *st, const char *repo, const char *revision,
                       es_err *err);

/* Finishes an upload: fsyncs the spool file and, in one transaction, makes a
 * new commit on `revision` (a branch; "main" by default) that adds or
 * replaces `path`, records the file (state "spooled") and queues its job.
 * If expect_sha256 (hex) is not NULL and differs: 400, nothing stored.
 * Consumes sp in every case.  *out: {"path","size","sha256","job_id",
 * "commit","state"}. */
int store_spool_commit(es_store *st, store_spool *sp, const char *repo,
                       const char *revision, const char *path,
                       const char *expect_sha256, json_t **out, es_err *err);

/* Lists the files of a revision: [{"path","size","sha256","stored_bytes",
 * "state","codecs":{...},"error"?}].  stored_bytes: encoded bytes of the
 * chunks the file uses (shared ones counted in full), or the spool size
 * before compression; codecs: decoded bytes per codec ("float", "zstd",
 * "elf", "dict", "raw").  revision: branch, tag or commit id (NULL = main). */
int store_file_list(es_store *st, const char *repo, const char *revision,
                    json_t **out, es_err *err);

/* Deletes `path` in a new commit on the branch. */
int store_file_delete(es_store *st, const char *repo, const char *revision,
                      const char *path, es_err *err);

/* What a download needs to know before it starts. */
typedef struct store_file {
    int64_t file_id;    /* file version */
    uint64_t size;      /* bytes served (decoded size) */
    char sha256[65];    /* hex of what is served */
    int64_t mtime;      /* unix seconds of the commit that added it */
    char commit[41];    /* commit id (hex) the lookup resolved to */
    char state[16];     /* spooled, compressing, stored, failed */
} store_file;

int store_file_lookup(es_store *st, const char *repo, const char *revision,
                      const char *path, store_file *out, es_err *err);

/* A reader serves byte ranges of one file version from the spool or from
 * the chunk store, whichever holds it, with bounded memory (a few blocks),
 * a shared decoded-block cache, and read-ahead of the next blocks on the
 * decode threads when reads are sequential. */
typedef struct store_reader store_reader;
int store_reader_open(es_store *st, const store_file *f, store_reader **out,
                      es_err *err);
/* Copies up to len bytes at offset off into buf; *got receives the count
 * (0 only at end of file).  A corrupt chunk is an error (500) and a log
 * line, never wrong bytes. */
int store_reader_read(store_reader *r, uint64_t off, uint8_t *buf,
                      size_t len, size_t *got, es_err *err);
void store_reader_close(store_reader *r);

/* ---- jobs and statistics ------------------------------------------------------ */

/* {"id","state":"queued|running|done|failed","file","repo","path",
 *  "progress_bytes","total_bytes","error"?} */
int store_job_get(es_store *st, int64_t id, json_t **out, es_err *err);

/* repo == NULL: whole store {"logical_bytes","stored_bytes","ratio",
 * "dedup_saved_bytes","files","repos":[...]}; else that repo's figures.
 * Definitions (stats.c has the details):
 *   logical_bytes  sizes of the file versions branch/tag heads list, once
 *                  per repository that lists them (what can be downloaded);
 *   stored_bytes   chunk_bytes + spool_bytes: live encoded chunks, each
 *                  counted once, plus spool files not yet compressed;
 *   ratio          logical_bytes / stored_bytes, the compression ratio
 *                  as "1.27x" reads (higher is better; 0 if nothing is
 *                  stored);
 *   dedup_saved_bytes  encoded bytes the listed files reference minus
 *                  chunk_bytes (what whole-file and tensor dedup saved).
 * Also "chunk_bytes", "spool_bytes", and for the whole store "pack_bytes"
 * (pack files' size on disk, garbage not yet compacted included).  Each
 * entry of "repos" has the same figures plus "name"; chunks shared between
 * repositories count in each. */
int store_stats(es_store *st, const char *repo, json_t **out, es_err *err);

/* Frees chunks whose reference count is zero and compacts sparse packs.
 * Runs by itself after deletes; exposed for tests and admin.  Waits for
 * running compression jobs to finish (they hold chunks it could free).
 * *out: {"chunks_freed","bytes_freed","tensors_freed","packs_dropped",
 * "packs_compacted","bytes_moved"}. */
int store_gc(es_store *st, json_t **out, es_err *err);

/* Waits until no job is queued or running (tests, shutdown). */
void store_wait_idle(es_store *st);

/* ---- operations (store_ops.c) ------------------------------------------ */

/* Readiness for GET /readyz: the database answers, every migration this
 * binary knows is applied, the chunk store takes writes (the pack
 * directory takes a new file, or the S3 bucket answers a HEAD with our
 * credentials) and the spool directory takes a new file.  *out: {"ready":bool,"checks":{"database","migrations",
 * "chunk_store","spool": "ok" or the problem}}.  Returns 1 ready, 0 not
 * ready, -1 + err if *out could not be built. */
int store_ready(es_store *st, json_t **out, es_err *err);

/* Job rows by state, for /metrics. */
typedef struct store_job_counts {
    int64_t queued, running, done, failed;
} store_job_counts;
int store_jobs_count(es_store *st, store_job_counts *out, es_err *err);

/* ---- consistency check (fsck.c) ---------------------------------------- */

typedef struct store_fsck_report {
    int64_t checks;              /* metadata checks run */
    int64_t problems, repaired;  /* rows (or containers) found, fixed */
    int64_t containers, container_bytes; /* in the chunk store */
    int64_t chunks, chunk_bytes; /* chunk rows, their bytes */
    int64_t containers_missing;  /* named by chunk rows, not stored */
    int64_t containers_short;    /* shorter than their chunks reach */
    int64_t orphans;             /* sealed containers no chunk row names */
    int64_t dead_bytes; /* stored bytes no chunk row holds (orphans, crash
                           leftovers, chunks GC freed but not compacted) */
} store_fsck_report;

/* elvesd fsck: checks the metadata against itself (meta_check_each) and
 * against the chunk store, calling line with one text per problem found;
 * repair fixes what the rows themselves say (reference counts, dead
 * marks, pack totals), and for a local store refuses (409) while another
 * process has its database open.  -1 only when the check could not run;
 * problems are in *r. */
int store_fsck(es_store *st, int repair,
               void (*line)(void *ctx, const char *text), void *line_ctx,
               store_fsck_report *r, es_err *err);

/* ---- migration to PostgreSQL + S3 (store_migrate.c) ------------------- */

/* elvesd migrate: a single-node store (SQLite and pack files in data_dir)
 * copied into a PostgreSQL database and an S3 chunk store, for replicas
 * (README "Scaling out"). */
typedef struct store_migrate_config {
    const char *data_dir;       /* the source: elves.db, packs/, spool/ */
    const char *to_database;    /* postgres://... */
    const char *to_chunk_store; /* s3://BUCKET/PREFIX?... */
    const char *s3_access_key, *s3_secret_key;
} store_migrate_config;

typedef struct store_migrate_report {
    int64_t repos, tokens;
    int64_t files, files_stored, files_spooled, files_failed;
    int64_t logical_bytes;          /* sizes of the file versions */
    int64_t chunks, chunk_bytes;    /* the source's chunks */
    int64_t chunks_new, bytes_new;  /* of them, uploaded by this run */
    int64_t spools_new;             /* spool files uploaded by this run */
    int64_t rows_new;               /* rows new to the target */
    int64_t verified, verifiable;   /* file versions (failed ones are not) */
    double copy_s, verify_s;
} store_migrate_report;

/* Copies metadata, chunks and spool files; then reads every file version
 * back through the target (a store opened on it, as a replica would) and
 * checks its SHA-256.  Safe to run again after an interruption: what the
 * target holds already is checked, not copied again.  Refuses a data
 * directory with no database (404) or one a running elvesd has open, and
 * a target that holds other data (409).  A mismatch fails (500) after
 * every file was read; *out is filled as far as the run got. */
int store_migrate(const store_migrate_config *cfg, store_migrate_report *out,
                  es_err *err);

#endif /* ELVESD_STORE_H */
