/*
 * meta.h - the metadata interface: what the storage engine asks of its
 * database, as typed calls, so that SQLite (meta/sqlite/) and PostgreSQL
 * (meta/pg/) are backends behind one versioned ops table, the way
 * libgit2's odb backends and SQLite's VFS are.
 *
 * Every call runs inside a transaction: meta_begin(m, META_READ or
 * META_WRITE) gives a meta_tx, calls take it, meta_commit or meta_rollback
 * ends it.  A META_READ transaction sees one consistent snapshot; a
 * META_WRITE one is serialised with every other writer (of every process
 * sharing the database).  A call that fails
 * leaves the transaction to be rolled back by its caller.
 *
 * Errors: -1 with the es_err filled (500 for a database failure, 503 if
 * the database cannot be reached, 409 for a unique name taken); lookups
 * return 1 found, 0 not found.  Nothing here includes a database header.

 */
#ifndef ELVESD_META_H
#define ELVESD_META_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Bumped whenever meta_ops changes shape; meta_open refuses a backend
 * built against another version. */
#define META_OPS_VERSION 8

typedef struct meta_ops meta_ops;

/* object_find: a size that matches every size. */
#define META_SIZE_ANY UINT64_MAX

/* An open backend; backends put this first in their own struct. */
typedef struct meta {
    const meta_ops *ops;
} meta;

/* One transaction; backends put this first in their own struct. */
typedef struct meta_tx {
    const meta_ops *ops;
} meta_tx;

typedef enum meta_mode { META_READ = 0, META_WRITE = 1 } meta_mode;

/* ---- rows ------------------------------------------------------------- */

typedef struct meta_token {
    int64_t id;
    char name[128];
    int can_write;
} meta_token;

/* What the schema looks like, for readiness: migrations applied and the
 * newest of them, against those this binary knows. */
typedef struct meta_schema {
    int64_t applied, newest;
    int64_t known, known_newest;
} meta_schema;

typedef struct meta_job_counts {
    int64_t queued, running, done, failed;
} meta_job_counts;

typedef struct meta_repo {
    int64_t id;
    char name[200];
    char mode[16];
    int64_t created;
} meta_repo;

typedef struct meta_ref {
    char kind[16];   /* "branch" or "tag" */
    char commit[41]; /* commit id the ref points at */
} meta_ref;

/* A file version (files row). */
typedef struct meta_file {
    int64_t id;
    uint64_t size;        /* bytes served (decoded) */
    char sha256[65];      /* hex of what is served */
    int64_t created;      /* unix seconds */
    char state[16];       /* spooled, compressing, stored, failed */
    uint64_t upload_size; /* bytes of the spool file */
    int has_error;
    char error[512]; /* why it failed, when has_error */
    char spool[80];  /* its spool file's name while it has one, or "" */
} meta_file;

/* A new file version, spooled and waiting for its compression job. */
typedef struct meta_file_new {
    uint64_t size;
    const char *sha256;
    const char *mode;  /* "lossless" or "elf" */
    const char *spool; /* spool file name */
    int64_t created;
} meta_file_new;

/* One path of a commit and the file version it names. */
typedef struct meta_entry {
    const char *path;
    meta_file file;
} meta_entry;

#define META_SPOOL_NAME_MAX 80 /* sizeof meta_file.spool */

/* A repository's Hugging Face settings (hf_repos; defaults when none). */
typedef struct meta_hf_repo {
    int64_t id;
    char mode[16];
    char type[16]; /* "model" or "dataset" */
    int is_private;
    char gated[8];   /* "false", "auto" or "manual" (migrations/0005) */
    int64_t created; /* the repository's */
} meta_hf_repo;

/* A commit with its parent, as the Hub's history lists it. */
typedef struct meta_commit {
    char parent[41]; /* "" for a first commit */
    int64_t created;
    char message[4096];
} meta_commit_row;

/* One path of a commit as the Hub lists it: a local commit's, or an
 * upstream commit's as the mirror remembers it (migrations/0003_mirror.sql;
 * the mirror calls name the repository by key, "model:org/name" or
 * "dataset:org/name"). */
typedef struct meta_hf_entry {
    const char *path;
    uint64_t size;
    char sha256[65];   /* of the bytes; "" for an upstream regular file */
    char git_sha1[41]; /* blob id of an inline/regular file; "" for LFS */
    int64_t file_id;   /* mirror: the fetched file version, or 0 */
} meta_hf_entry;

/* A compression job as GET /api/v1/jobs/{id} shows it. */
typedef struct meta_job {
    int64_t id;
    char state[16];  /* queued, running, done, failed */
    int64_t file_id; /* 0 once the file version is deleted */
    char repo[200];
    char path[1100];
    int64_t progress_bytes, total_bytes;
    int has_error;
    char error[512];
} meta_job;

/* Storage figures of the file versions that branch and tag heads list, of
 * one repository or of all (stats.c defines each). */
typedef struct meta_figures {
    int64_t logical;       /* sizes of the listed file versions */
    int64_t files;         /* distinct listed file versions */
    int64_t spool;         /* upload bytes of listed files still spooled */
    int64_t referenced;    /* chunk bytes the listed files reference */
    int64_t chunk;         /* live chunk bytes, each chunk once */
    int64_t delta_logical; /* bytes of listed segments that are delta-coded */
    int64_t delta_stored;  /* chunk bytes of those tensors, each once */
    int64_t delta_alone;   /* their alone_bytes, each tensor once */
} meta_figures;

/* ---- chunks, tensors, blocks ------------------------------------------
 * A chunk is one encoded block in the chunk store; its row says where
 * (container and offset, chunk_loc in chunks/chunkstore.h, which this
 * layer does not see).  A stored file version's manifest is its segments
 * (what the parser found) and blocks (what tiles its bytes); a stored
 * tensor's blocks let later files reuse its chunks (tensor dedup). */

typedef struct meta_chunk {
    int64_t id;
    uint64_t container;
    uint64_t offset;
    uint32_t length;   /* encoded bytes */
    uint64_t checksum; /* of the encoded bytes, as the chunk store keeps it */
} meta_chunk;

/* A chunk the job just put into the chunk store. */
typedef struct meta_chunk_new {
    uint64_t container;
    uint64_t offset;
    uint32_t length;
    uint64_t checksum;
    uint32_t raw_len; /* decoded bytes */
    int codec;        /* elves_codec of the block */
} meta_chunk_new;

/* One block of a file's manifest or of a stored tensor: decoded bytes
 * [raw_offset, raw_offset + raw_len) of the file (or tensor), encoded in
 * chunk chunk_id. */
typedef struct meta_block {
    int64_t seq;
    uint64_t raw_offset;
    uint32_t raw_len;
    int64_t chunk_id;
} meta_block;

/* A block with the chunk it names: of a stored tensor (for reuse), or of
 * a stored file (for reads). */
typedef struct meta_chunk_block {
    uint64_t raw_offset; /* within the tensor, or the file */
    uint32_t raw_len;
    meta_chunk chunk;
} meta_chunk_block;

typedef struct meta_tensor_new {
    const char *fingerprint; /* hex, of dtype, shape and bytes */
    int lossy;               /* some block written with ELF */
    const char *dtype;
    const char *shape; /* JSON array of dimensions */
    uint64_t raw_len;
    const char *codec;
    int64_t base_id;      /* the tensor its delta blocks are coded against, 0:
                             none (a reference: see base_tensor_each) */
    uint64_t alone_bytes; /* delta tensors: estimated bytes coded alone */
} meta_tensor_new;

/* A stored tensor as a base for delta coding: what a file segment named
 * it, and the row. */
typedef struct meta_base_tensor {
    const char *name; /* the segment's */
    const char *dtype;
    const char *shape; /* JSON array */
    const char *fingerprint;
    uint64_t raw_len;
    int64_t id;
    int64_t base_id; /* 0: coded alone */
} meta_base_tensor;

/* One segment of a stored file (file_segments row). */
typedef struct meta_segment {
    int64_t seq;
    const char *kind;
    const char *name; /* NULL if it has none */
    const char *dtype;
    uint64_t offset;
    uint64_t length;
    const char *codec; /* NULL: not coded on its own */
    int64_t tensor_id; /* 0: names no stored tensor */
} meta_segment;

/* What a compression job reads of its file version. */
typedef struct meta_file_source {
    char spool[META_SPOOL_NAME_MAX]; /* "" if it has no spool file */
    uint64_t upload_size;
    char upload_sha256[65];
    char mode[16];
} meta_file_source;

/* Base detection: a stored tensor that a file on some repository's main
 * branch, or a file a mirror fetched, names as a candidate base for a new
 * one. */
typedef struct meta_base_candidate {
    const char *repo; /* "org/name", or a mirror's "model:org/name" */
    const char *fingerprint;
    int64_t tensor_id;
    int64_t file_id; /* the file version that names it */
} meta_base_candidate;

/* ---- the ops table -------------------------------------------------- */

struct meta_ops {
    unsigned version; /* META_OPS_VERSION */
    const char *name;
    void (*close)(meta *m);

    int (*begin)(meta *m, meta_mode mode, meta_tx **tx, es_err *err);
    /* Ends tx; on failure it was rolled back. */
    int (*commit)(meta_tx *tx, es_err *err);
    void (*rollback)(meta_tx *tx);

    int (*schema)(meta_tx *tx, meta_schema *out, es_err *err);
    int (*job_counts)(meta_tx *tx, meta_job_counts *out, es_err *err);

    int (*token_find)(meta_tx *tx, const char *hash, meta_token *out,
                      es_err *err);
    int (*token_count)(meta_tx *tx, int64_t *n, es_err *err);
    int (*token_add)(meta_tx *tx, const char *name, const char *hash,
                     int can_write, int64_t created, es_err *err);

    int (*repo_find)(meta_tx *tx, const char *name, meta_repo *out,
                     es_err *err);
    /* Calls fn for every repository in name order; fn returning non-zero
     * stops the walk and is returned. */
    int (*repo_each)(meta_tx *tx, int (*fn)(void *ctx, const meta_repo *r),
                     void *ctx, es_err *err);
    /* 409 if the name is taken. */
    int (*repo_insert)(meta_tx *tx, const char *name, const char *mode,
                       int64_t created, int64_t *id, es_err *err);
    /* Its commits, refs and tree entries go with it; file versions stay
     * (the caller releases them). */
    int (*repo_delete)(meta_tx *tx, int64_t repo_id, es_err *err);
    /* Every file version any commit of the repo lists, once. */
    int (*repo_file_each)(meta_tx *tx, int64_t repo_id,
                          int (*fn)(void *ctx, int64_t file_id), void *ctx,
                          es_err *err);

    int (*ref_get)(meta_tx *tx, int64_t repo_id, const char *name,
                   meta_ref *out, es_err *err);
    /* The refs of one kind in name order. */
    int (*ref_each)(meta_tx *tx, int64_t repo_id, const char *kind,
                    int (*fn)(void *ctx, const char *name, const char *commit),
                    void *ctx, es_err *err);
    int (*ref_insert)(meta_tx *tx, int64_t repo_id, const char *name,
                      const char *kind, const char *commit, es_err *err);
    int (*ref_move)(meta_tx *tx, int64_t repo_id, const char *name,
                    const char *commit, es_err *err);

    /* parent NULL: the first commit. */
    int (*commit_insert)(meta_tx *tx, const char *id, int64_t repo_id,
                         const char *parent, const char *message,
                         int64_t created, es_err *err);
    int (*commit_exists)(meta_tx *tx, int64_t repo_id, const char *id,
                         es_err *err);

    /* The file version at path in commit (*file_id). */
    int (*entry_get)(meta_tx *tx, const char *commit, const char *path,
                     int64_t *file_id, es_err *err);
    /* Whether commit lists a path under dir ("dir/..."). */
    int (*entry_under)(meta_tx *tx, const char *commit, const char *dir,
                       es_err *err);
    int (*entry_add)(meta_tx *tx, const char *commit, const char *path,
                     int64_t file_id, es_err *err);
    /* Lists in commit `to` every entry of `from` but the one at except
     * (NULL: every entry). */
    int (*entries_copy)(meta_tx *tx, const char *from, const char *to,
                        const char *except, es_err *err);
    /* The file version at path in commit, whole. */
    int (*entry_file)(meta_tx *tx, const char *commit, const char *path,
                      meta_file *out, es_err *err);
    /* Every entry of commit in path order, with its file version. */
    int (*entry_each)(meta_tx *tx, const char *commit,
                      int (*fn)(void *ctx, const meta_entry *e), void *ctx,
                      es_err *err);

    /* Unlists path, or every path under dir ("dir/..."), from commit;
     * returns how many entries went (0 if none). */
    int (*entry_delete)(meta_tx *tx, const char *commit, const char *path,
                        es_err *err);
    int (*entry_delete_under)(meta_tx *tx, const char *commit, const char *dir,
                              es_err *err);

    int (*commit_get)(meta_tx *tx, const char *id, int64_t *created,
                      char message[256], es_err *err);

    int (*hf_repo_get)(meta_tx *tx, const char *name, meta_hf_repo *out,
                       es_err *err);
    /* Sets the repository's Hub settings (made, or replaced). */
    int (*hf_repo_settings)(meta_tx *tx, int64_t repo_id, const char *type,
                            int is_private, const char *gated, es_err *err);
    /* Every entry of commit in path order, with its git blob id if any. */
    int (*hf_entry_each)(meta_tx *tx, const char *commit,
                         int (*fn)(void *ctx, const meta_hf_entry *e),
                         void *ctx, es_err *err);
    /* The oldest usable file version with these uploaded bytes in mode
     * (failed ones last): an object the Hub API can commit.  size
     * META_SIZE_ANY: of any size (a copy names its object by sha256). */
    int (*object_find)(meta_tx *tx, const char *sha256, uint64_t size,
                       const char *mode, int64_t *file_id, es_err *err);
    /* Records the git blob id of an inline file (kept if one is there). */
    int (*blob_add)(meta_tx *tx, int64_t file_id, const char *git_sha1,
                    es_err *err);
    /* Removes the ref (branch or tag) name: 1, or 0 if there is none. */
    int (*ref_delete)(meta_tx *tx, int64_t repo_id, const char *name,
                      es_err *err);
    /* A commit of any repository with its parent: 1, or 0 if none. */
    int (*commit_info)(meta_tx *tx, const char *id, meta_commit_row *out,
                       es_err *err);
    /* Gives the repository another name; 409 if it is taken. */
    int (*repo_rename)(meta_tx *tx, int64_t repo_id, const char *name,
                       es_err *err);

    int (*mirror_pin_get)(meta_tx *tx, const char *key, const char *rev,
                          char commit[41], int64_t *fetched, es_err *err);
    int (*mirror_pin_set)(meta_tx *tx, const char *key, const char *rev,
                          const char *commit, int64_t fetched, es_err *err);
    /* Whether the listing of commit was saved, and when. */
    int (*mirror_commit_get)(meta_tx *tx, const char *key, const char *commit,
                             int64_t *created, es_err *err);
    int (*mirror_commit_add)(meta_tx *tx, const char *key, const char *commit,
                             int64_t created, es_err *err);
    int (*mirror_entry_each)(meta_tx *tx, const char *key, const char *commit,
                             int (*fn)(void *ctx, const meta_hf_entry *e),
                             void *ctx, es_err *err);
    /* Saves an entry (file_id ignored): a file already fetched, in any
     * commit of any repository, is reused (an LFS file by its sha256, a
     * regular file by its blob id). */
    int (*mirror_entry_add)(meta_tx *tx, const char *key, const char *commit,
                            const meta_hf_entry *e, es_err *err);
    int (*mirror_entry_fetched)(meta_tx *tx, const char *key,
                                const char *commit, const char *path,
                                int64_t file_id, es_err *err);

    /* A file version by id. */
    int (*file_get)(meta_tx *tx, int64_t file_id, meta_file *out, es_err *err);
    /* ---- jobs: a queue claimed with leases.  A claimed job is the
     * claimer's until lease_until; a job whose lease ran out (its process
     * died) goes back to the queue with job_requeue_expired, so several
     * processes may share one queue (PostgreSQL: a claim skips jobs
     * another transaction is claiming).  The SQLite backend has one
     * process: its leases last as long as that process, and every running
     * job is requeued at open. */
    int (*job_claim)(meta_tx *tx, int64_t now, int64_t lease_until,
                     int64_t *job_id, int64_t *file_id, es_err *err);
    int (*job_requeue_expired)(meta_tx *tx, int64_t now, es_err *err);
    /* Extends a running job's lease to lease_until.  Returns 1, or 0 if
     * the job is no longer running (requeued, ended or deleted): its
     * worker should then give it up. */
    int (*job_renew)(meta_tx *tx, int64_t job_id, int64_t lease_until,
                     es_err *err);
    /* How a job that did not commit its own result ended: job_state
     * "queued" (to run again), "failed" or "done"; file_state the same
     * for its file version; error NULL for none. */
    int (*job_finish)(meta_tx *tx, int64_t job_id, int64_t file_id,
                      const char *job_state, const char *file_state,
                      const char *error, int64_t progress, int64_t now,
                      es_err *err);
    int (*job_attempts)(meta_tx *tx, int64_t job_id, int64_t *n, es_err *err);
    /* Fencing: 1 if the job is running as claim number `attempt` (its
     * attempts count when claimed), 0 if its lease ran out and it was
     * requeued or claimed again since (by this or another process).  A
     * write transaction that records a job's result checks this first, so
     * a worker that lost its lease cannot overwrite its successor's. */
    int (*job_owned)(meta_tx *tx, int64_t job_id, int64_t attempt, es_err *err);
    /* Jobs queued or running. */
    int (*job_pending)(meta_tx *tx, int64_t *n, es_err *err);
    int (*job_get)(meta_tx *tx, int64_t id, meta_job *out, es_err *err);

    /* ---- reads */
    int (*chunk_get)(meta_tx *tx, int64_t chunk_id, meta_chunk *out,
                     es_err *err);
    /* The blocks of a stored file version in order. */
    int (*file_block_each)(meta_tx *tx, int64_t file_id,
                           int (*fn)(void *ctx, const meta_chunk_block *b),
                           void *ctx, es_err *err);

    int (*file_insert)(meta_tx *tx, const meta_file_new *f, int64_t *id,
                       es_err *err);
    /* Whether a branch or tag head lists the file version. */
    int (*file_listed)(meta_tx *tx, int64_t file_id, es_err *err);
    /* Deletes the file version (its blocks are released for the GC) and
     * fails its queued jobs ("file deleted", at now); spool receives its
     * spool file name, "" if it has none. */
    int (*file_delete)(meta_tx *tx, int64_t file_id, int64_t now,
                       char spool[META_SPOOL_NAME_MAX], es_err *err);
    /* Decoded bytes of a stored file version per codec (elves_codec). */
    int (*file_codec_each)(meta_tx *tx, int64_t file_id,
                           int (*fn)(void *ctx, int codec, int64_t bytes),
                           void *ctx, es_err *err);
    /* Encoded bytes of the distinct chunks the file version uses. */
    int (*file_chunk_bytes)(meta_tx *tx, int64_t file_id, int64_t *out,
                            es_err *err);

    /* A queued compression job for file_id; repo and path label it. */
    int (*job_insert)(meta_tx *tx, int64_t file_id, const char *repo,
                      const char *path, uint64_t total_bytes, int64_t created,
                      int64_t *id, es_err *err);

    /* ---- chunks, tensors, blocks ----
     * Reference counts are the backend's to keep, never the caller's: a
     * chunk's is the number of file blocks naming it, a tensor's the
     * number of file segments naming it, and a container's live bytes
     * the lengths of the chunks in it.  Every call below that adds, copies,
     * moves or deletes such rows keeps them (triggers in both backends,
     * migrations/0001_init.sql; 0004 adds dead_since, when a count last
     * fell to zero).  Rows whose count fell to zero stay until
     * the GC deletes them, so a job may still reuse them meanwhile. */

    /* The spool file, uploaded bytes and mode of a file version. */
    int (*file_source_get)(meta_tx *tx, int64_t file_id, meta_file_source *out,
                           es_err *err);
    /* Whole-file dedup: a stored file version, other than file_id, with
     * these uploaded bytes whose manifest a version in mode may share (the
     * same mode, or lossless; lossless first). */
    int (*file_twin_find)(meta_tx *tx, const char *upload_sha256,
                          const char *mode, int64_t file_id, int64_t *twin,
                          es_err *err);
    /* Makes file_id, if still compressing, a copy of twin, if still
     * stored: its size, sha256, format, segments and blocks (counted as
     * references); stored, no spool, stored_bytes 0.  Returns 1 if
     * linked, 0 if either had changed (nothing done). */
    int (*file_link_twin)(meta_tx *tx, int64_t file_id, int64_t twin,
                          es_err *err);
    /* Marks file_id, if still compressing, stored with what is served
     * (sha256, format) and the encoded bytes its job wrote.  Returns 1,
     * or 0 if it was not compressing (deleted meanwhile). */
    int (*file_stored)(meta_tx *tx, int64_t file_id, const char *sha256,
                       const char *format, uint64_t stored_bytes, es_err *err);
    /* Ends a job as done at now: progress full, no error. */
    int (*job_done)(meta_tx *tx, int64_t job_id, int64_t now, es_err *err);

    /* Tensor dedup: the stored tensor with this fingerprint and size, a
     * lossy one only if lossy_ok (preferred then); *id and its codec.
     * Returns 1 if found and referenced, 2 if found with no reference
     * (GC may collect it: tensor_hold it before using it), 0 if none. */
    int (*tensor_find)(meta_tx *tx, const char *fingerprint, uint64_t raw_len,
                       int lossy_ok, int64_t *id, char codec[16], es_err *err);
    /* Dedup against an unreferenced tensor: restarts its grace period (its
     * dead_since becomes now), so a GC on any replica leaves it and its
     * chunks alone for store_config.gc_grace_s while the caller commits a
     * reference to it.  Returns 1, or 0 if it was collected already. */
    int (*tensor_hold)(meta_tx *tx, int64_t tensor_id, es_err *err);
    /* The blocks of a stored tensor in order, with their chunks. */
    int (*tensor_block_each)(meta_tx *tx, int64_t tensor_id,
                             int (*fn)(void *ctx, const meta_chunk_block *b),
                             void *ctx, es_err *err);
    /* A new chunk row (no reference yet). */
    int (*chunk_insert)(meta_tx *tx, const meta_chunk_new *c, int64_t *id,
                        es_err *err);
    /* A new tensor row (no reference yet).  Returns 1 (*id set), or 0 if
     * a tensor with this fingerprint and lossiness exists (*id 0). */
    int (*tensor_insert)(meta_tx *tx, const meta_tensor_new *t, int64_t *id,
                         es_err *err);
    int (*tensor_block_add)(meta_tx *tx, int64_t tensor_id, const meta_block *b,
                            es_err *err);
    /* A segment of file_id's manifest; one reference to its tensor. */
    int (*segment_add)(meta_tx *tx, int64_t file_id, const meta_segment *s,
                       es_err *err);
    /* A block of file_id's manifest; one reference to its chunk. */
    int (*block_add)(meta_tx *tx, int64_t file_id, const meta_block *b,
                     es_err *err);

    /* Delta coding (migrations/0006_delta.sql).  The lossless tensors of
     * the files commit_id lists, one per named segment that owns one. */
    int (*base_tensor_each)(meta_tx *tx, const char *commit_id,
                            int (*fn)(void *ctx, const meta_base_tensor *t),
                            void *ctx, es_err *err);
    /* The same for one file version. */
    int (*file_base_tensor_each)(meta_tx *tx, int64_t file_id,
                                 int (*fn)(void *ctx,
                                           const meta_base_tensor *t),
                                 void *ctx, es_err *err);
    /* Base detection: up to `most` lossless tensors coded alone that a
     * file on the main branch of a lossless repository, or a lossless file
     * the mirror fetched (repo is then the mirror's repo key), names
     * `name`, with this dtype, shape (JSON) and length. */
    int (*base_candidate_each)(meta_tx *tx, const char *name, const char *dtype,
                               const char *shape, uint64_t raw_len, int most,
                               int (*fn)(void *ctx,
                                         const meta_base_candidate *c),
                               void *ctx, es_err *err);
    /* A file version's delta coding: how many of its segments name a
     * delta tensor and their bytes, and a repository whose heads list a
     * file holding one of their base tensors, else the repo key of a
     * mirror that fetched one ("" when none does any more: the base was
     * deleted and its tensors are kept for this file). */
    int (*file_delta_get)(meta_tx *tx, int64_t file_id, int64_t *segments,
                          int64_t *bytes, char base_repo[200], es_err *err);
    /* A lossless tensor by fingerprint, referenced or not: 1 with *id and
     * *raw_len, 0 if none. */
    int (*tensor_by_fingerprint)(meta_tx *tx, const char *fingerprint,
                                 int64_t *id, uint64_t *raw_len, es_err *err);
    /* The base a repository declares ("org/name[@rev]"): 1 and base, 0 if
     * none.  set: NULL or "" removes it. */
    int (*repo_base_get)(meta_tx *tx, int64_t repo_id, char base[256],
                         es_err *err);
    int (*repo_base_set)(meta_tx *tx, int64_t repo_id, const char *base,
                         es_err *err);

    /* GC: deletes the tensors nothing has referenced since before
     * `before` (unix seconds; a new row counts as dead since its insert)
     * and no other tensor names as its base; their blocks go with them;
     * *n receives how many. */
    int (*tensor_dead_delete)(meta_tx *tx, int64_t before, int64_t *n,
                              es_err *err);
    /* GC: every chunk nothing has referenced since before `before` and
     * no tensor row names (a held tensor keeps its chunks). */
    int (*chunk_dead_each)(meta_tx *tx, int64_t before,
                           int (*fn)(void *ctx, const meta_chunk *c), void *ctx,
                           es_err *err);
    /* GC: deletes one chunk row (its bytes are the caller's). */
    int (*chunk_delete)(meta_tx *tx, int64_t chunk_id, es_err *err);
    /* GC: deletes the jobs that ended (done or failed) before `before`;
     * *n receives how many. */
    int (*job_prune)(meta_tx *tx, int64_t before, int64_t *n, es_err *err);
    /* Compaction: the bytes of the chunks in a container (0 if none). */
    int (*container_live_bytes)(meta_tx *tx, uint64_t container, int64_t *out,
                                es_err *err);
    /* Compaction: every chunk in a container, in offset order. */
    int (*container_chunk_each)(meta_tx *tx, uint64_t container,
                                int (*fn)(void *ctx, const meta_chunk *c),
                                void *ctx, es_err *err);
    /* Compaction: the chunk's bytes now live at (container, offset). */
    int (*chunk_move)(meta_tx *tx, int64_t chunk_id, uint64_t container,
                      uint64_t offset, es_err *err);
    /* Compaction: forgets a container no chunk is in any more. */
    int (*container_forget)(meta_tx *tx, uint64_t container, es_err *err);
    /* Whether a file version names this spool file. */
    int (*spool_named)(meta_tx *tx, const char *name, es_err *err);

    /* repo_id < 0: all repositories. */
    int (*figures)(meta_tx *tx, int64_t repo_id, meta_figures *out,
                   es_err *err);

    /* Consistency checks (meta_check.c), in the SQL both backends speak.
     * check_count: the first column of the first row of sql. */
    int (*check_count)(meta_tx *tx, const char *sql, int64_t *out,
                       es_err *err);
    /* check_repair: runs sql, an UPDATE, binding now (unix seconds) to $1
     * if it names it; *changed rows. */
    int (*check_repair)(meta_tx *tx, const char *sql, int64_t now,
                        int64_t *changed, es_err *err);
    /* fsck: each container that chunk rows name, in id order, with how
     * many chunks it holds, their bytes, and where the last of them ends. */
    int (*chunk_container_each)(meta_tx *tx,
                                int (*fn)(void *ctx, uint64_t container,
                                          int64_t chunks, int64_t bytes, uint64_t end),
                                void *ctx, es_err *err);
};

/* ---- calls ------------------------------------------------------------- */

/* One consistency check of the metadata (meta_check.c) as it ran. */
typedef struct meta_check_result {
    const char *name; /* "chunk_refcount", ... */
    const char *what; /* what each problem found is */
    int64_t problems; /* found (before any repair) */
    int repairable;   /* repair can fix these from the rows themselves */
    int64_t repaired; /* rows repair changed */
} meta_check_result;

/* Runs every check inside tx (META_WRITE when repair) and calls fn with
 * each; with repair, what is repairable is fixed in tx.  The checks:
 * reference counts equal to the references, chunks/tensors marked dead
 * exactly when unreferenced, pack totals, no block naming a missing chunk
 * or segment a missing tensor, delta tensors whose base exists, is no
 * delta itself and has their dtype and length, blocks that tile every
 * tensor and stored file, and jobs agreeing with their files' states. */
int meta_check_each(meta_tx *tx, int repair, int64_t now,
                    int (*fn)(void *ctx, const meta_check_result *r),
                    void *ctx, es_err *err);

/* Which backend and where.  backend NULL means "sqlite". */
typedef struct meta_config {
    const char *backend; /* "sqlite" or "postgres" */
    const char *path;    /* sqlite: the database file, created if missing */
    /* postgres: a libpq connection string or URI,
     * postgres://USER[:PASS]@HOST:PORT/DB (connect_timeout 5 s unless it
     * says otherwise) */
    const char *url;
} meta_config;

/* Opens the backend, applying the migrations it lacks (one process at a
 * time, for a database several share).  400 for an unknown backend, 500
 * for one whose ops table has another version, 503 for a database that
 * cannot be reached. */
int meta_open(meta **out, const meta_config *cfg, es_err *err);

static inline void meta_close(meta *m)
{
    if (m)
        m->ops->close(m);
}

static inline int meta_begin(meta *m, meta_mode mode, meta_tx **tx, es_err *err)
{
    return m->ops->begin(m, mode, tx, err);
}

static inline int meta_commit(meta_tx *tx, es_err *err)
{
    return tx->ops->commit(tx, err);
}

static inline void meta_rollback(meta_tx *tx)
{
    tx->ops->rollback(tx);
}

/* Ends tx as rc says (rc < 0: rolled back) and returns rc, or -1 if the
 * commit failed. */
static inline int meta_end(meta_tx *tx, int rc, es_err *err)
{
    if (rc < 0) {
        meta_rollback(tx);
        return rc;
    }
    return meta_commit(tx, err) < 0 ? -1 : rc;
}

static inline int meta_schema_get(meta_tx *tx, meta_schema *out, es_err *err)
{
    return tx->ops->schema(tx, out, err);
}

static inline int meta_job_counts_get(meta_tx *tx, meta_job_counts *out,
                                      es_err *err)
{
    return tx->ops->job_counts(tx, out, err);
}

static inline int meta_token_find(meta_tx *tx, const char *hash,
                                  meta_token *out, es_err *err)
{
    return tx->ops->token_find(tx, hash, out, err);
}

static inline int meta_token_count(meta_tx *tx, int64_t *n, es_err *err)
{
    return tx->ops->token_count(tx, n, err);
}

static inline int meta_token_add(meta_tx *tx, const char *name,
                                 const char *hash, int can_write,
                                 int64_t created, es_err *err)
{
    return tx->ops->token_add(tx, name, hash, can_write, created, err);
}

static inline int meta_repo_find(meta_tx *tx, const char *name, meta_repo *out,
                                 es_err *err)
{
    return tx->ops->repo_find(tx, name, out, err);
}

static inline int meta_repo_each(meta_tx *tx,
                                 int (*fn)(void *ctx, const meta_repo *r),
                                 void *ctx, es_err *err)
{
    return tx->ops->repo_each(tx, fn, ctx, err);
}

static inline int meta_repo_insert(meta_tx *tx, const char *name,
                                   const char *mode, int64_t created,
                                   int64_t *id, es_err *err)
{
    return tx->ops->repo_insert(tx, name, mode, created, id, err);
}

static inline int meta_repo_delete(meta_tx *tx, int64_t repo_id, es_err *err)
{
    return tx->ops->repo_delete(tx, repo_id, err);
}

static inline int meta_repo_file_each(meta_tx *tx, int64_t repo_id,
                                      int (*fn)(void *ctx, int64_t file_id),
                                      void *ctx, es_err *err)
{
    return tx->ops->repo_file_each(tx, repo_id, fn, ctx, err);
}

static inline int meta_ref_get(meta_tx *tx, int64_t repo_id, const char *name,
                               meta_ref *out, es_err *err)
{
    return tx->ops->ref_get(tx, repo_id, name, out, err);
}

static inline int meta_ref_each(meta_tx *tx, int64_t repo_id, const char *kind,
                                int (*fn)(void *ctx, const char *name,
                                          const char *commit),
                                void *ctx, es_err *err)
{
    return tx->ops->ref_each(tx, repo_id, kind, fn, ctx, err);
}

static inline int meta_ref_insert(meta_tx *tx, int64_t repo_id,
                                  const char *name, const char *kind,
                                  const char *commit, es_err *err)
{
    return tx->ops->ref_insert(tx, repo_id, name, kind, commit, err);
}

static inline int meta_ref_move(meta_tx *tx, int64_t repo_id, const char *name,
                                const char *commit, es_err *err)
{
    return tx->ops->ref_move(tx, repo_id, name, commit, err);
}

static inline int meta_commit_insert(meta_tx *tx, const char *id,
                                     int64_t repo_id, const char *parent,
                                     const char *message, int64_t created,
                                     es_err *err)
{
    return tx->ops->commit_insert(tx, id, repo_id, parent, message, created,
                                  err);
}

static inline int meta_commit_exists(meta_tx *tx, int64_t repo_id,
                                     const char *id, es_err *err)
{
    return tx->ops->commit_exists(tx, repo_id, id, err);
}

static inline int meta_entry_get(meta_tx *tx, const char *commit,
                                 const char *path, int64_t *file_id,
                                 es_err *err)
{
    return tx->ops->entry_get(tx, commit, path, file_id, err);
}

static inline int meta_entry_under(meta_tx *tx, const char *commit,
                                   const char *dir, es_err *err)
{
    return tx->ops->entry_under(tx, commit, dir, err);
}

static inline int meta_entry_add(meta_tx *tx, const char *commit,
                                 const char *path, int64_t file_id, es_err *err)
{
    return tx->ops->entry_add(tx, commit, path, file_id, err);
}

static inline int meta_entries_copy(meta_tx *tx, const char *from,
                                    const char *to, const char *except,
                                    es_err *err)
{
    return tx->ops->entries_copy(tx, from, to, except, err);
}

static inline int meta_entry_file(meta_tx *tx, const char *commit,
                                  const char *path, meta_file *out, es_err *err)
{
    return tx->ops->entry_file(tx, commit, path, out, err);
}

static inline int meta_entry_each(meta_tx *tx, const char *commit,
                                  int (*fn)(void *ctx, const meta_entry *e),
                                  void *ctx, es_err *err)
{
    return tx->ops->entry_each(tx, commit, fn, ctx, err);
}

static inline int meta_file_insert(meta_tx *tx, const meta_file_new *f,
                                   int64_t *id, es_err *err)
{
    return tx->ops->file_insert(tx, f, id, err);
}

static inline int meta_file_listed(meta_tx *tx, int64_t file_id, es_err *err)
{
    return tx->ops->file_listed(tx, file_id, err);
}

static inline int meta_file_delete(meta_tx *tx, int64_t file_id, int64_t now,
                                   char spool[META_SPOOL_NAME_MAX], es_err *err)
{
    return tx->ops->file_delete(tx, file_id, now, spool, err);
}

static inline int meta_file_codec_each(meta_tx *tx, int64_t file_id,
                                       int (*fn)(void *ctx, int codec,
                                                 int64_t bytes),
                                       void *ctx, es_err *err)
{
    return tx->ops->file_codec_each(tx, file_id, fn, ctx, err);
}

static inline int meta_file_chunk_bytes(meta_tx *tx, int64_t file_id,
                                        int64_t *out, es_err *err)
{
    return tx->ops->file_chunk_bytes(tx, file_id, out, err);
}

static inline int meta_job_insert(meta_tx *tx, int64_t file_id,
                                  const char *repo, const char *path,
                                  uint64_t total_bytes, int64_t created,
                                  int64_t *id, es_err *err)
{
    return tx->ops->job_insert(tx, file_id, repo, path, total_bytes, created,
                               id, err);
}

static inline int meta_entry_delete(meta_tx *tx, const char *commit,
                                    const char *path, es_err *err)
{
    return tx->ops->entry_delete(tx, commit, path, err);
}

static inline int meta_entry_delete_under(meta_tx *tx, const char *commit,
                                          const char *dir, es_err *err)
{
    return tx->ops->entry_delete_under(tx, commit, dir, err);
}

static inline int meta_commit_get(meta_tx *tx, const char *id, int64_t *created,
                                  char message[256], es_err *err)
{
    return tx->ops->commit_get(tx, id, created, message, err);
}

static inline int meta_hf_repo_get(meta_tx *tx, const char *name,
                                   meta_hf_repo *out, es_err *err)
{
    return tx->ops->hf_repo_get(tx, name, out, err);
}

static inline int meta_hf_repo_settings(meta_tx *tx, int64_t repo_id,
                                        const char *type, int is_private,
                                        const char *gated, es_err *err)
{
    return tx->ops->hf_repo_settings(tx, repo_id, type, is_private, gated, err);
}

static inline int meta_hf_entry_each(meta_tx *tx, const char *commit,
                                     int (*fn)(void *ctx,
                                               const meta_hf_entry *e),
                                     void *ctx, es_err *err)
{
    return tx->ops->hf_entry_each(tx, commit, fn, ctx, err);
}

static inline int meta_object_find(meta_tx *tx, const char *sha256,
                                   uint64_t size, const char *mode,
                                   int64_t *file_id, es_err *err)
{
    return tx->ops->object_find(tx, sha256, size, mode, file_id, err);
}

static inline int meta_blob_add(meta_tx *tx, int64_t file_id,
                                const char *git_sha1, es_err *err)
{
    return tx->ops->blob_add(tx, file_id, git_sha1, err);
}

static inline int meta_ref_delete(meta_tx *tx, int64_t repo_id,
                                  const char *name, es_err *err)
{
    return tx->ops->ref_delete(tx, repo_id, name, err);
}

static inline int meta_commit_info(meta_tx *tx, const char *id,
                                   meta_commit_row *out, es_err *err)
{
    return tx->ops->commit_info(tx, id, out, err);
}

static inline int meta_repo_rename(meta_tx *tx, int64_t repo_id,
                                   const char *name, es_err *err)
{
    return tx->ops->repo_rename(tx, repo_id, name, err);
}

static inline int meta_mirror_pin_get(meta_tx *tx, const char *key,
                                      const char *rev, char commit[41],
                                      int64_t *fetched, es_err *err)
{
    return tx->ops->mirror_pin_get(tx, key, rev, commit, fetched, err);
}

static inline int meta_mirror_pin_set(meta_tx *tx, const char *key,
                                      const char *rev, const char *commit,
                                      int64_t fetched, es_err *err)
{
    return tx->ops->mirror_pin_set(tx, key, rev, commit, fetched, err);
}

static inline int meta_mirror_commit_get(meta_tx *tx, const char *key,
                                         const char *commit, int64_t *created,
                                         es_err *err)
{
    return tx->ops->mirror_commit_get(tx, key, commit, created, err);
}

static inline int meta_mirror_commit_add(meta_tx *tx, const char *key,
                                         const char *commit, int64_t created,
                                         es_err *err)
{
    return tx->ops->mirror_commit_add(tx, key, commit, created, err);
}

static inline int
meta_mirror_entry_each(meta_tx *tx, const char *key, const char *commit,
                       int (*fn)(void *ctx, const meta_hf_entry *e), void *ctx,
                       es_err *err)
{
    return tx->ops->mirror_entry_each(tx, key, commit, fn, ctx, err);
}

static inline int meta_mirror_entry_add(meta_tx *tx, const char *key,
                                        const char *commit,
                                        const meta_hf_entry *e, es_err *err)
{
    return tx->ops->mirror_entry_add(tx, key, commit, e, err);
}

static inline int meta_mirror_entry_fetched(meta_tx *tx, const char *key,
                                            const char *commit,
                                            const char *path, int64_t file_id,
                                            es_err *err)
{
    return tx->ops->mirror_entry_fetched(tx, key, commit, path, file_id, err);
}

static inline int meta_file_get(meta_tx *tx, int64_t file_id, meta_file *out,
                                es_err *err)
{
    return tx->ops->file_get(tx, file_id, out, err);
}

static inline int meta_job_claim(meta_tx *tx, int64_t now, int64_t lease_until,
                                 int64_t *job_id, int64_t *file_id, es_err *err)
{
    return tx->ops->job_claim(tx, now, lease_until, job_id, file_id, err);
}

static inline int meta_job_requeue_expired(meta_tx *tx, int64_t now,
                                           es_err *err)
{
    return tx->ops->job_requeue_expired(tx, now, err);
}

static inline int meta_job_renew(meta_tx *tx, int64_t job_id,
                                 int64_t lease_until, es_err *err)
{
    return tx->ops->job_renew(tx, job_id, lease_until, err);
}

static inline int meta_job_finish(meta_tx *tx, int64_t job_id, int64_t file_id,
                                  const char *job_state, const char *file_state,
                                  const char *error, int64_t progress,
                                  int64_t now, es_err *err)
{
    return tx->ops->job_finish(tx, job_id, file_id, job_state, file_state,
                               error, progress, now, err);
}

static inline int meta_job_owned(meta_tx *tx, int64_t job_id, int64_t attempt,
                                 es_err *err)
{
    return tx->ops->job_owned(tx, job_id, attempt, err);
}

static inline int meta_job_attempts(meta_tx *tx, int64_t job_id, int64_t *n,
                                    es_err *err)
{
    return tx->ops->job_attempts(tx, job_id, n, err);
}

static inline int meta_job_pending(meta_tx *tx, int64_t *n, es_err *err)
{
    return tx->ops->job_pending(tx, n, err);
}

static inline int meta_job_get(meta_tx *tx, int64_t id, meta_job *out,
                               es_err *err)
{
    return tx->ops->job_get(tx, id, out, err);
}

static inline int meta_chunk_get(meta_tx *tx, int64_t chunk_id, meta_chunk *out,
                                 es_err *err)
{
    return tx->ops->chunk_get(tx, chunk_id, out, err);
}

static inline int meta_file_block_each(meta_tx *tx, int64_t file_id,
                                       int (*fn)(void *ctx,
                                                 const meta_chunk_block *b),
                                       void *ctx, es_err *err)
{
    return tx->ops->file_block_each(tx, file_id, fn, ctx, err);
}

static inline int meta_file_source_get(meta_tx *tx, int64_t file_id,
                                       meta_file_source *out, es_err *err)
{
    return tx->ops->file_source_get(tx, file_id, out, err);
}

static inline int meta_file_twin_find(meta_tx *tx, const char *upload_sha256,
                                      const char *mode, int64_t file_id,
                                      int64_t *twin, es_err *err)
{
    return tx->ops->file_twin_find(tx, upload_sha256, mode, file_id, twin, err);
}

static inline int meta_file_link_twin(meta_tx *tx, int64_t file_id,
                                      int64_t twin, es_err *err)
{
    return tx->ops->file_link_twin(tx, file_id, twin, err);
}

static inline int meta_file_stored(meta_tx *tx, int64_t file_id,
                                   const char *sha256, const char *format,
                                   uint64_t stored_bytes, es_err *err)
{
    return tx->ops->file_stored(tx, file_id, sha256, format, stored_bytes, err);
}

static inline int meta_job_done(meta_tx *tx, int64_t job_id, int64_t now,
                                es_err *err)
{
    return tx->ops->job_done(tx, job_id, now, err);
}

static inline int meta_tensor_find(meta_tx *tx, const char *fingerprint,
                                   uint64_t raw_len, int lossy_ok, int64_t *id,
                                   char codec[16], es_err *err)
{
    return tx->ops->tensor_find(tx, fingerprint, raw_len, lossy_ok, id, codec,
                                err);
}

static inline int meta_tensor_hold(meta_tx *tx, int64_t tensor_id, es_err *err)
{
    return tx->ops->tensor_hold(tx, tensor_id, err);
}

static inline int meta_tensor_block_each(meta_tx *tx, int64_t tensor_id,
                                         int (*fn)(void *ctx,
                                                   const meta_chunk_block *b),
                                         void *ctx, es_err *err)
{
    return tx->ops->tensor_block_each(tx, tensor_id, fn, ctx, err);
}

static inline int meta_chunk_insert(meta_tx *tx, const meta_chunk_new *c,
                                    int64_t *id, es_err *err)
{
    return tx->ops->chunk_insert(tx, c, id, err);
}

static inline int meta_tensor_insert(meta_tx *tx, const meta_tensor_new *t,
                                     int64_t *id, es_err *err)
{
    return tx->ops->tensor_insert(tx, t, id, err);
}

static inline int meta_tensor_block_add(meta_tx *tx, int64_t tensor_id,
                                        const meta_block *b, es_err *err)
{
    return tx->ops->tensor_block_add(tx, tensor_id, b, err);
}

static inline int meta_segment_add(meta_tx *tx, int64_t file_id,
                                   const meta_segment *s, es_err *err)
{
    return tx->ops->segment_add(tx, file_id, s, err);
}

static inline int meta_block_add(meta_tx *tx, int64_t file_id,
                                 const meta_block *b, es_err *err)
{
    return tx->ops->block_add(tx, file_id, b, err);
}

static inline int meta_base_tensor_each(meta_tx *tx, const char *commit_id,
                                        int (*fn)(void *ctx,
                                                  const meta_base_tensor *t),
                                        void *ctx, es_err *err)
{
    return tx->ops->base_tensor_each(tx, commit_id, fn, ctx, err);
}

static inline int
meta_file_base_tensor_each(meta_tx *tx, int64_t file_id,
                           int (*fn)(void *ctx, const meta_base_tensor *t),
                           void *ctx, es_err *err)
{
    return tx->ops->file_base_tensor_each(tx, file_id, fn, ctx, err);
}

static inline int
meta_base_candidate_each(meta_tx *tx, const char *name, const char *dtype,
                         const char *shape, uint64_t raw_len, int most,
                         int (*fn)(void *ctx, const meta_base_candidate *c),
                         void *ctx, es_err *err)
{
    return tx->ops->base_candidate_each(tx, name, dtype, shape, raw_len, most,
                                        fn, ctx, err);
}

static inline int meta_file_delta_get(meta_tx *tx, int64_t file_id,
                                      int64_t *segments, int64_t *bytes,
                                      char base_repo[200], es_err *err)
{
    return tx->ops->file_delta_get(tx, file_id, segments, bytes, base_repo,
                                   err);
}

static inline int meta_tensor_by_fingerprint(meta_tx *tx,
                                             const char *fingerprint,
                                             int64_t *id, uint64_t *raw_len,
                                             es_err *err)
{
    return tx->ops->tensor_by_fingerprint(tx, fingerprint, id, raw_len, err);
}

static inline int meta_repo_base_get(meta_tx *tx, int64_t repo_id,
                                     char base[256], es_err *err)
{
    return tx->ops->repo_base_get(tx, repo_id, base, err);
}

static inline int meta_repo_base_set(meta_tx *tx, int64_t repo_id,
                                     const char *base, es_err *err)
{
    return tx->ops->repo_base_set(tx, repo_id, base, err);
}

static inline int meta_tensor_dead_delete(meta_tx *tx, int64_t before,
                                          int64_t *n, es_err *err)
{
    return tx->ops->tensor_dead_delete(tx, before, n, err);
}

static inline int meta_chunk_dead_each(meta_tx *tx, int64_t before,
                                       int (*fn)(void *ctx,
                                                 const meta_chunk *c),
                                       void *ctx, es_err *err)
{
    return tx->ops->chunk_dead_each(tx, before, fn, ctx, err);
}

static inline int meta_chunk_delete(meta_tx *tx, int64_t chunk_id, es_err *err)
{
    return tx->ops->chunk_delete(tx, chunk_id, err);
}

static inline int meta_job_prune(meta_tx *tx, int64_t before, int64_t *n,
                                 es_err *err)
{
    return tx->ops->job_prune(tx, before, n, err);
}

static inline int meta_container_live_bytes(meta_tx *tx, uint64_t container,
                                            int64_t *out, es_err *err)
{
    return tx->ops->container_live_bytes(tx, container, out, err);
}

static inline int meta_container_chunk_each(meta_tx *tx, uint64_t container,
                                            int (*fn)(void *ctx,
                                                      const meta_chunk *c),
                                            void *ctx, es_err *err)
{
    return tx->ops->container_chunk_each(tx, container, fn, ctx, err);
}

static inline int meta_chunk_move(meta_tx *tx, int64_t chunk_id,
                                  uint64_t container, uint64_t offset,
                                  es_err *err)
{
    return tx->ops->chunk_move(tx, chunk_id, container, offset, err);
}

static inline int meta_chunk_container_each(
    meta_tx *tx,
    int (*fn)(void *ctx, uint64_t container, int64_t chunks, int64_t bytes, uint64_t end),
    void *ctx, es_err *err)
{
    return tx->ops->chunk_container_each(tx, fn, ctx, err);
}

static inline int meta_container_forget(meta_tx *tx, uint64_t container,
                                        es_err *err)
{
    return tx->ops->container_forget(tx, container, err);
}

static inline int meta_spool_named(meta_tx *tx, const char *name, es_err *err)
{
    return tx->ops->spool_named(tx, name, err);
}

static inline int meta_figures_get(meta_tx *tx, int64_t repo_id,
                                   meta_figures *out, es_err *err)
{
    return tx->ops->figures(tx, repo_id, out, err);
}

/* ---- copying a whole database (elvesd migrate) -------------------------
 * meta_copy.c copies every row of a single-node database (SQLite) into a
 * PostgreSQL one, the one file that knows both backends at once.  Tables
 * go in foreign-key order, ids kept; a row already in the target is
 * skipped if it is the row the copy would write, and refused (409) if it
 * is not, so a copy can be run again after an interruption and never
 * merges two stores.  Reference counts (chunks, tensors, packs) are the
 * target's triggers' to count: counted rows go in at zero, the rows that
 * reference them after.  Chunk rows are the caller's to feed in, as it
 * moves their bytes to the target's chunk store (new locations):
 * meta_copy_chunks_next then meta_copy_chunks_add, between the two row
 * stages.  Ids are kept, so meta_copy_finish moves the target's id
 * sequences past every id the source ever used. */

typedef struct meta_copy meta_copy;

/* What the source holds. */
typedef struct meta_copy_summary {
    int64_t repos, tokens;
    int64_t files;         /* file versions */
    int64_t files_stored;  /* state stored */
    int64_t files_spooled; /* spooled or compressing: not yet compressed */
    int64_t files_failed;
    int64_t logical_bytes;       /* sizes of the file versions */
    int64_t chunks, chunk_bytes; /* chunk rows and their encoded bytes */
} meta_copy_summary;

typedef enum meta_copy_stage {
    META_COPY_BEFORE_CHUNKS, /* repos ... files, jobs, tokens, tensors */
    META_COPY_AFTER_CHUNKS   /* the rows that name chunks and tensors */
} meta_copy_stage;

/* A source chunk row; c.container/offset say where it lives now, and the
 * caller replaces them with where it put the bytes before adding it. */
typedef struct meta_copy_chunk {
    int64_t id;
    meta_chunk_new c;
} meta_copy_chunk;

/* Checks that src (SQLite) can be copied into dst (PostgreSQL): both on
 * the same schema version (409), every source table known to the copy
 * (500), and dst holding nothing but what an earlier copy of src wrote:
 * no table with more rows than the source's, no repository the source
 * lacks or holds under another id (409).  Neither is closed by free. */
int meta_copy_open(meta_copy **out, meta *src, meta *dst, es_err *err);
void meta_copy_free(meta_copy *c);

int meta_copy_summary_get(meta_copy *c, meta_copy_summary *out, es_err *err);
/* 1 if the target holds no repository yet, 0 if it does. */
int meta_copy_target_empty(meta_copy *c, es_err *err);

/* Calls fn for every source file version in id order (spooled_only: those
 * with a spool file that the target does not hold yet); fn returning
 * non-zero stops the walk and is returned.  No transaction is open while
 * fn runs. */
int meta_copy_file_each(meta_copy *c, int spooled_only,
                        int (*fn)(void *ctx, const meta_file *f), void *ctx,
                        es_err *err);

/* Copies the rows of one stage; *copied receives how many rows were new
 * to the target.  One target transaction per table. */
int meta_copy_rows(meta_copy *c, meta_copy_stage stage, int64_t *copied,
                   es_err *err);

/* The source chunks with ids after `after` (at most cap of them, in id
 * order) that the target lacks: into out, *n of them.  *last receives the
 * highest id looked at, *present how many of them the target had already
 * (with the same length and checksum; 409 if not).  Returns 1, or 0 once
 * there is no chunk after `after`. */
int meta_copy_chunks_next(meta_copy *c, int64_t after, meta_copy_chunk *out,
                          size_t cap, size_t *n, int64_t *last,
                          int64_t *present, es_err *err);
/* Records chunks whose bytes are in the target's chunk store (synced) at
 * their new locations, in one transaction, unreferenced until the second
 * stage's rows arrive. */
int meta_copy_chunks_add(meta_copy *c, const meta_copy_chunk *rows, size_t n,
                         es_err *err);

/* After both stages: moves the target's id sequences past the source's
 * ids (deleted ones too: AUTOINCREMENT never reuses one), then checks
 * that every table holds as many rows as the source's and that the
 * reference counts add up to the source's (500 if not). */
int meta_copy_finish(meta_copy *c, es_err *err);

#endif /* ELVESD_META_H */
