/*
 * meta_sqlite_internal.h - what the files of the SQLite backend share: the
 * connection of a transaction and the calls the ops table in meta_sqlite.c
 * lists.
 */
#ifndef ELVESD_META_SQLITE_INTERNAL_H
#define ELVESD_META_SQLITE_INTERNAL_H

#include "meta_sqlite.h"

typedef struct sq_meta sq_meta;

/* A transaction: the backend's one (see meta_sqlite.c). */
typedef struct sq_tx {
    meta_tx base;
    sq_meta *m;
    meta_mode mode;
} sq_tx;

struct sq_meta {
    meta base;
    db *d;
    sq_tx tx; /* the one open transaction */
};

/* The connection the transaction runs on. */
static inline db *sq_db(meta_tx *tx)
{
    return ((sq_tx *)tx)->m->d;
}

/* meta_sqlite_repos.c */
int sq_repo_insert(meta_tx *tx, const char *name, const char *mode,
                   int64_t created, int64_t *id, es_err *err);
int sq_repo_delete(meta_tx *tx, int64_t repo_id, es_err *err);
int sq_repo_file_each(meta_tx *tx, int64_t repo_id,
                      int (*fn)(void *ctx, int64_t file_id), void *ctx,
                      es_err *err);
int sq_ref_get(meta_tx *tx, int64_t repo_id, const char *name, meta_ref *out,
               es_err *err);
int sq_ref_each(meta_tx *tx, int64_t repo_id, const char *kind,
                int (*fn)(void *ctx, const char *name, const char *commit),
                void *ctx, es_err *err);
int sq_ref_insert(meta_tx *tx, int64_t repo_id, const char *name,
                  const char *kind, const char *commit, es_err *err);
int sq_ref_move(meta_tx *tx, int64_t repo_id, const char *name,
                const char *commit, es_err *err);
int sq_commit_insert(meta_tx *tx, const char *id, int64_t repo_id,
                     const char *parent, const char *message, int64_t created,
                     es_err *err);
int sq_commit_exists(meta_tx *tx, int64_t repo_id, const char *id, es_err *err);
int sq_entry_get(meta_tx *tx, const char *commit, const char *path,
                 int64_t *file_id, es_err *err);
int sq_entry_under(meta_tx *tx, const char *commit, const char *dir,
                   es_err *err);
int sq_entry_add(meta_tx *tx, const char *commit, const char *path,
                 int64_t file_id, es_err *err);
int sq_entries_copy(meta_tx *tx, const char *from, const char *to,
                    const char *except, es_err *err);
int sq_entry_file(meta_tx *tx, const char *commit, const char *path,
                  meta_file *out, es_err *err);
int sq_entry_each(meta_tx *tx, const char *commit,
                  int (*fn)(void *ctx, const meta_entry *e), void *ctx,
                  es_err *err);
int sq_file_get(meta_tx *tx, int64_t file_id, meta_file *out, es_err *err);
int sq_file_insert(meta_tx *tx, const meta_file_new *f, int64_t *id,
                   es_err *err);
int sq_file_listed(meta_tx *tx, int64_t file_id, es_err *err);
int sq_file_delete(meta_tx *tx, int64_t file_id, int64_t now,
                   char spool[META_SPOOL_NAME_MAX], es_err *err);
int sq_file_codec_each(meta_tx *tx, int64_t file_id,
                       int (*fn)(void *ctx, int codec, int64_t bytes),
                       void *ctx, es_err *err);
int sq_file_chunk_bytes(meta_tx *tx, int64_t file_id, int64_t *out,
                        es_err *err);
int sq_job_insert(meta_tx *tx, int64_t file_id, const char *repo,
                  const char *path, uint64_t total_bytes, int64_t created,
                  int64_t *id, es_err *err);

/* meta_sqlite_hf.c */
/* Reads every row of s (path, size, sha256, git_sha1[, file_id]), then
 * calls fn on each. */
int sq_hf_entries_each(db *d, sqlite3_stmt *s,
                       int (*fn)(void *ctx, const meta_hf_entry *e),
                       void *ctx, es_err *err);
int sq_entry_delete(meta_tx *tx, const char *commit, const char *path,
                    es_err *err);
int sq_entry_delete_under(meta_tx *tx, const char *commit, const char *dir,
                          es_err *err);
int sq_commit_get(meta_tx *tx, const char *id, int64_t *created,
                  char message[256], es_err *err);
int sq_hf_repo_get(meta_tx *tx, const char *name, meta_hf_repo *out,
                   es_err *err);
int sq_hf_repo_settings(meta_tx *tx, int64_t repo_id, const char *type,
                        int is_private, const char *gated, es_err *err);
int sq_ref_delete(meta_tx *tx, int64_t repo_id, const char *name,
                  es_err *err);
int sq_commit_info(meta_tx *tx, const char *id, meta_commit_row *out,
                   es_err *err);
int sq_repo_rename(meta_tx *tx, int64_t repo_id, const char *name,
                   es_err *err);
int sq_hf_entry_each(meta_tx *tx, const char *commit,
                     int (*fn)(void *ctx, const meta_hf_entry *e), void *ctx,
                     es_err *err);
int sq_object_find(meta_tx *tx, const char *sha256, uint64_t size,
                   const char *mode, int64_t *file_id, es_err *err);
int sq_blob_add(meta_tx *tx, int64_t file_id, const char *git_sha1,
                es_err *err);

/* meta_sqlite_mirror.c */
int sq_mirror_pin_get(meta_tx *tx, const char *key, const char *rev,
                      char commit[41], int64_t *fetched, es_err *err);
int sq_mirror_pin_set(meta_tx *tx, const char *key, const char *rev,
                      const char *commit, int64_t fetched, es_err *err);
int sq_mirror_commit_get(meta_tx *tx, const char *key, const char *commit,
                         int64_t *created, es_err *err);
int sq_mirror_commit_add(meta_tx *tx, const char *key, const char *commit,
                         int64_t created, es_err *err);
int sq_mirror_entry_each(meta_tx *tx, const char *key, const char *commit,
                         int (*fn)(void *ctx, const meta_hf_entry *e),
                         void *ctx, es_err *err);
int sq_mirror_entry_add(meta_tx *tx, const char *key, const char *commit,
                        const meta_hf_entry *e, es_err *err);
int sq_mirror_entry_fetched(meta_tx *tx, const char *key, const char *commit,
                            const char *path, int64_t file_id, es_err *err);

/* meta_sqlite_jobs.c */
int sq_job_claim(meta_tx *tx, int64_t now, int64_t lease_until,
                 int64_t *job_id, int64_t *file_id, es_err *err);
int sq_job_requeue_expired(meta_tx *tx, int64_t now, es_err *err);
int sq_job_renew(meta_tx *tx, int64_t job_id, int64_t lease_until,
                 es_err *err);
int sq_job_finish(meta_tx *tx, int64_t job_id, int64_t file_id,
                  const char *job_state, const char *file_state,
                  const char *error, int64_t progress, int64_t now,
                  es_err *err);
int sq_job_attempts(meta_tx *tx, int64_t job_id, int64_t *n, es_err *err);
int sq_job_owned(meta_tx *tx, int64_t job_id, int64_t attempt, es_err *err);
int sq_job_pending(meta_tx *tx, int64_t *n, es_err *err);
int sq_job_get(meta_tx *tx, int64_t id, meta_job *out, es_err *err);
int sq_chunk_get(meta_tx *tx, int64_t chunk_id, meta_chunk *out, es_err *err);
/* meta_sqlite_chunks.c */
int sq_file_source_get(meta_tx *tx, int64_t file_id, meta_file_source *out,
                       es_err *err);
int sq_file_twin_find(meta_tx *tx, const char *upload_sha256, const char *mode,
                      int64_t file_id, int64_t *twin, es_err *err);
int sq_file_link_twin(meta_tx *tx, int64_t file_id, int64_t twin, es_err *err);
int sq_file_stored(meta_tx *tx, int64_t file_id, const char *sha256,
                   const char *format, uint64_t stored_bytes, es_err *err);
int sq_job_done(meta_tx *tx, int64_t job_id, int64_t now, es_err *err);
int sq_tensor_find(meta_tx *tx, const char *fingerprint, uint64_t raw_len,
                   int lossy_ok, int64_t *id, char codec[16], es_err *err);
int sq_tensor_hold(meta_tx *tx, int64_t tensor_id, es_err *err);
int sq_tensor_block_each(meta_tx *tx, int64_t tensor_id,
                         int (*fn)(void *ctx, const meta_chunk_block *b),
                         void *ctx, es_err *err);
int sq_file_block_each(meta_tx *tx, int64_t file_id,
                       int (*fn)(void *ctx, const meta_chunk_block *b),
                       void *ctx, es_err *err);
int sq_chunk_insert(meta_tx *tx, const meta_chunk_new *c, int64_t *id,
                    es_err *err);
int sq_tensor_insert(meta_tx *tx, const meta_tensor_new *t, int64_t *id,
                     es_err *err);
int sq_tensor_block_add(meta_tx *tx, int64_t tensor_id, const meta_block *b,
                        es_err *err);
int sq_segment_add(meta_tx *tx, int64_t file_id, const meta_segment *g,
                   es_err *err);
int sq_block_add(meta_tx *tx, int64_t file_id, const meta_block *b,
                 es_err *err);
int sq_base_tensor_each(meta_tx *tx, const char *commit_id,
                        int (*fn)(void *ctx, const meta_base_tensor *t),
                        void *ctx, es_err *err);
int sq_file_base_tensor_each(meta_tx *tx, int64_t file_id,
                             int (*fn)(void *ctx, const meta_base_tensor *t),
                             void *ctx, es_err *err);
int sq_base_candidate_each(meta_tx *tx, const char *name, const char *dtype,
                           const char *shape, uint64_t raw_len, int most,
                           int (*fn)(void *ctx, const meta_base_candidate *c),
                           void *ctx, es_err *err);
int sq_file_delta_get(meta_tx *tx, int64_t file_id, int64_t *segments,
                      int64_t *bytes, char base_repo[200], es_err *err);
int sq_tensor_by_fingerprint(meta_tx *tx, const char *fingerprint,
                             int64_t *id, uint64_t *raw_len, es_err *err);
int sq_repo_base_get(meta_tx *tx, int64_t repo_id, char base[256],
                     es_err *err);
int sq_repo_base_set(meta_tx *tx, int64_t repo_id, const char *base,
                     es_err *err);
int sq_tensor_dead_delete(meta_tx *tx, int64_t before, int64_t *n,
                          es_err *err);
int sq_chunk_dead_each(meta_tx *tx, int64_t before,
                       int (*fn)(void *ctx, const meta_chunk *c), void *ctx,
                       es_err *err);
int sq_chunk_delete(meta_tx *tx, int64_t chunk_id, es_err *err);
int sq_job_prune(meta_tx *tx, int64_t before, int64_t *n, es_err *err);
int sq_container_live_bytes(meta_tx *tx, uint64_t container, int64_t *out,
                            es_err *err);
int sq_container_chunk_each(meta_tx *tx, uint64_t container,
                            int (*fn)(void *ctx, const meta_chunk *c),
                            void *ctx, es_err *err);
int sq_chunk_move(meta_tx *tx, int64_t chunk_id, uint64_t container,
                  uint64_t offset, es_err *err);
int sq_container_forget(meta_tx *tx, uint64_t container, es_err *err);
int sq_spool_named(meta_tx *tx, const char *name, es_err *err);

/* meta_sqlite_check.c */
int sq_check_count(meta_tx *tx, const char *sql, int64_t *out, es_err *err);
int sq_check_repair(meta_tx *tx, const char *sql, int64_t now,
                    int64_t *changed, es_err *err);
int sq_chunk_container_each(meta_tx *tx,
                            int (*fn)(void *ctx, uint64_t container,
                                      int64_t chunks, int64_t bytes, uint64_t end),
                            void *ctx, es_err *err);

#endif /* ELVESD_META_SQLITE_INTERNAL_H */
