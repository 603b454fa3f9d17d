/*
 * meta_pg_internal.h - what the files of the PostgreSQL backend share: a
 * transaction and its connection (pg_conn.c), statements with typed
 * parameters, and the calls the ops table in meta_pg.c lists.
 *
 * Every statement goes through pg_run with its parameters as text
 * ($1, $2, ... in the SQL; PG_I for an integer, PG_T for a string or
 * NULL), never formatted into the SQL.
 */
#ifndef ELVESD_META_PG_INTERNAL_H
#define ELVESD_META_PG_INTERNAL_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "meta.h"
#include "meta_pg.h"

typedef struct pg_meta pg_meta;

/* One transaction on a connection of the pool. */
typedef struct pg_tx {
    meta_tx base;
    pg_meta *m;
    PGconn *conn;
    meta_mode mode;
} pg_tx;

/* ---- pg_conn.c: the pool and transactions --------------------------- */

/* A backend (its meta first, so a pg_meta * is a meta *) with no
 * connection yet. */
int pg_meta_create(pg_meta **out, const meta_ops *ops, const char *url,
                   es_err *err);
void pg_meta_destroy(pg_meta *m);
/* Applies the migrations, under a session advisory lock. */
int pg_meta_migrate(pg_meta *m, es_err *err);
int pg_tx_begin(pg_meta *m, meta_mode mode, pg_tx **out, es_err *err);
int pg_tx_commit(pg_tx *t, es_err *err);
void pg_tx_rollback(pg_tx *t);

/* ---- statements --------------------------------------------------------- */

typedef struct pg_param {
    int is_text;
    int64_t i;
    const char *t; /* NULL: SQL NULL */
} pg_param;

#define PG_I(v) ((pg_param){0, (int64_t)(v), NULL})
#define PG_T(v) ((pg_param){1, 0, (v)})
/* The parameter array and its length, for pg_run and friends. */
#define PG_P(...)                                                              \
    (const pg_param[]){__VA_ARGS__},                                           \
        (int)(sizeof((const pg_param[]){__VA_ARGS__}) / sizeof(pg_param))
#define PG_NONE NULL, 0

/* Runs sql; its result (rows, or none), which the caller PQclears, or NULL
 * with err filled: 409 for a unique violation, 503 if the connection is
 * gone, 500 otherwise. */
PGresult *pg_run(meta_tx *tx, const char *sql, const pg_param *p, int n,
                 es_err *err);
/* Runs sql; how many rows it changed, or -1. */
int pg_exec(meta_tx *tx, const char *sql, const pg_param *p, int n,
            es_err *err);
/* The first column of the first row in *out: 1, or 0 (*out = 0) if no
 * row; -1 on failure. */
int pg_i64(meta_tx *tx, const char *sql, const pg_param *p, int n,
           int64_t *out, es_err *err);
/* 1 if sql returns a row, 0 if not, -1. */
int pg_exists(meta_tx *tx, const char *sql, const pg_param *p, int n,
              es_err *err);
/* Runs an INSERT ... RETURNING id: *id, and 0 or -1. */
int pg_returning(meta_tx *tx, const char *sql, const pg_param *p, int n,
                 int64_t *id, es_err *err);

/* 0 for a statement that ran (pg_exec's count, pg_i64's found), -1 if
 * not. */
static inline int pg_ran(int rc)
{
    return rc < 0 ? -1 : 0;
}

/* Fills err from a failed result (see pg_run); returns -1. */
int pg_fail(PGconn *c, const PGresult *r, const char *what, es_err *err);

int64_t pg_col_i64(const PGresult *r, int row, int col);
/* Column as text into buf ("" for NULL). */
void pg_col_text(const PGresult *r, int row, int col, char *buf, size_t cap);
int pg_col_null(const PGresult *r, int row, int col);

/* ---- meta_pg_repos.c ---------------------------------------------------- */

int pg_repo_insert(meta_tx *tx, const char *name, const char *mode,
                   int64_t created, int64_t *id, es_err *err);
int pg_repo_delete(meta_tx *tx, int64_t repo_id, es_err *err);
int pg_repo_file_each(meta_tx *tx, int64_t repo_id,
                      int (*fn)(void *ctx, int64_t file_id), void *ctx,
                      es_err *err);
int pg_ref_get(meta_tx *tx, int64_t repo_id, const char *name, meta_ref *out,
               es_err *err);
int pg_ref_each(meta_tx *tx, int64_t repo_id, const char *kind,
                int (*fn)(void *ctx, const char *name, const char *commit),
                void *ctx, es_err *err);
int pg_ref_insert(meta_tx *tx, int64_t repo_id, const char *name,
                  const char *kind, const char *commit, es_err *err);
int pg_ref_move(meta_tx *tx, int64_t repo_id, const char *name,
                const char *commit, es_err *err);
int pg_commit_insert(meta_tx *tx, const char *id, int64_t repo_id,
                     const char *parent, const char *message, int64_t created,
                     es_err *err);
int pg_commit_exists(meta_tx *tx, int64_t repo_id, const char *id, es_err *err);
int pg_entry_get(meta_tx *tx, const char *commit, const char *path,
                 int64_t *file_id, es_err *err);
int pg_entry_under(meta_tx *tx, const char *commit, const char *dir,
                   es_err *err);
int pg_entry_add(meta_tx *tx, const char *commit, const char *path,
                 int64_t file_id, es_err *err);
int pg_entries_copy(meta_tx *tx, const char *from, const char *to,
                    const char *except, es_err *err);
int pg_entry_file(meta_tx *tx, const char *commit, const char *path,
                  meta_file *out, es_err *err);
int pg_entry_each(meta_tx *tx, const char *commit,
                  int (*fn)(void *ctx, const meta_entry *e), void *ctx,
                  es_err *err);
int pg_entry_delete(meta_tx *tx, const char *commit, const char *path,
                    es_err *err);
int pg_entry_delete_under(meta_tx *tx, const char *commit, const char *dir,
                          es_err *err);
int pg_commit_get(meta_tx *tx, const char *id, int64_t *created,
                  char message[256], es_err *err);
int pg_file_get(meta_tx *tx, int64_t file_id, meta_file *out, es_err *err);
int pg_file_insert(meta_tx *tx, const meta_file_new *f, int64_t *id,
                   es_err *err);
int pg_file_listed(meta_tx *tx, int64_t file_id, es_err *err);
int pg_file_delete(meta_tx *tx, int64_t file_id, int64_t now,
                   char spool[META_SPOOL_NAME_MAX], es_err *err);
int pg_file_codec_each(meta_tx *tx, int64_t file_id,
                       int (*fn)(void *ctx, int codec, int64_t bytes),
                       void *ctx, es_err *err);
int pg_file_chunk_bytes(meta_tx *tx, int64_t file_id, int64_t *out,
                        es_err *err);

/* ---- meta_pg_hf.c: Hub settings, blobs, objects, the mirror ------------ */

int pg_hf_repo_get(meta_tx *tx, const char *name, meta_hf_repo *out,
                   es_err *err);
int pg_hf_repo_settings(meta_tx *tx, int64_t repo_id, const char *type,
                        int is_private, const char *gated, es_err *err);
int pg_ref_delete(meta_tx *tx, int64_t repo_id, const char *name,
                  es_err *err);
int pg_commit_info(meta_tx *tx, const char *id, meta_commit_row *out,
                   es_err *err);
int pg_repo_rename(meta_tx *tx, int64_t repo_id, const char *name,
                   es_err *err);
int pg_hf_entry_each(meta_tx *tx, const char *commit,
                     int (*fn)(void *ctx, const meta_hf_entry *e), void *ctx,
                     es_err *err);
int pg_object_find(meta_tx *tx, const char *sha256, uint64_t size,
                   const char *mode, int64_t *file_id, es_err *err);
int pg_blob_add(meta_tx *tx, int64_t file_id, const char *git_sha1,
                es_err *err);
int pg_mirror_pin_get(meta_tx *tx, const char *key, const char *rev,
                      char commit[41], int64_t *fetched, es_err *err);
int pg_mirror_pin_set(meta_tx *tx, const char *key, const char *rev,
                      const char *commit, int64_t fetched, es_err *err);
int pg_mirror_commit_get(meta_tx *tx, const char *key, const char *commit,
                         int64_t *created, es_err *err);
int pg_mirror_commit_add(meta_tx *tx, const char *key, const char *commit,
                         int64_t created, es_err *err);
int pg_mirror_entry_each(meta_tx *tx, const char *key, const char *commit,
                         int (*fn)(void *ctx, const meta_hf_entry *e),
                         void *ctx, es_err *err);
int pg_mirror_entry_add(meta_tx *tx, const char *key, const char *commit,
                        const meta_hf_entry *e, es_err *err);
int pg_mirror_entry_fetched(meta_tx *tx, const char *key, const char *commit,
                            const char *path, int64_t file_id, es_err *err);

/* ---- meta_pg_jobs.c ----------------------------------------------------- */

int pg_job_insert(meta_tx *tx, int64_t file_id, const char *repo,
                  const char *path, uint64_t total_bytes, int64_t created,
                  int64_t *id, es_err *err);
int pg_job_claim(meta_tx *tx, int64_t now, int64_t lease_until,
                 int64_t *job_id, int64_t *file_id, es_err *err);
int pg_job_requeue_expired(meta_tx *tx, int64_t now, es_err *err);
int pg_job_renew(meta_tx *tx, int64_t job_id, int64_t lease_until,
                 es_err *err);
int pg_job_finish(meta_tx *tx, int64_t job_id, int64_t file_id,
                  const char *job_state, const char *file_state,
                  const char *error, int64_t progress, int64_t now,
                  es_err *err);
int pg_job_attempts(meta_tx *tx, int64_t job_id, int64_t *n, es_err *err);
int pg_job_owned(meta_tx *tx, int64_t job_id, int64_t attempt, es_err *err);
int pg_job_pending(meta_tx *tx, int64_t *n, es_err *err);
int pg_job_get(meta_tx *tx, int64_t id, meta_job *out, es_err *err);
int pg_job_done(meta_tx *tx, int64_t job_id, int64_t now, es_err *err);
int pg_job_prune(meta_tx *tx, int64_t before, int64_t *n, es_err *err);
int pg_job_counts(meta_tx *tx, meta_job_counts *out, es_err *err);

/* ---- meta_pg_chunks.c --------------------------------------------------- */

int pg_chunk_get(meta_tx *tx, int64_t chunk_id, meta_chunk *out, es_err *err);
int pg_file_source_get(meta_tx *tx, int64_t file_id, meta_file_source *out,
                       es_err *err);
int pg_file_twin_find(meta_tx *tx, const char *upload_sha256, const char *mode,
                      int64_t file_id, int64_t *twin, es_err *err);
int pg_file_link_twin(meta_tx *tx, int64_t file_id, int64_t twin, es_err *err);
int pg_file_stored(meta_tx *tx, int64_t file_id, const char *sha256,
                   const char *format, uint64_t stored_bytes, es_err *err);
int pg_tensor_find(meta_tx *tx, const char *fingerprint, uint64_t raw_len,
                   int lossy_ok, int64_t *id, char codec[16], es_err *err);
int pg_tensor_hold(meta_tx *tx, int64_t tensor_id, es_err *err);
int pg_tensor_block_each(meta_tx *tx, int64_t tensor_id,
                         int (*fn)(void *ctx, const meta_chunk_block *b),
                         void *ctx, es_err *err);
int pg_file_block_each(meta_tx *tx, int64_t file_id,
                       int (*fn)(void *ctx, const meta_chunk_block *b),
                       void *ctx, es_err *err);
int pg_chunk_insert(meta_tx *tx, const meta_chunk_new *c, int64_t *id,
                    es_err *err);
int pg_tensor_insert(meta_tx *tx, const meta_tensor_new *t, int64_t *id,
                     es_err *err);
int pg_tensor_block_add(meta_tx *tx, int64_t tensor_id, const meta_block *b,
                        es_err *err);
int pg_segment_add(meta_tx *tx, int64_t file_id, const meta_segment *g,
                   es_err *err);
int pg_block_add(meta_tx *tx, int64_t file_id, const meta_block *b,
                 es_err *err);
int pg_base_tensor_each(meta_tx *tx, const char *commit_id,
                        int (*fn)(void *ctx, const meta_base_tensor *t),
                        void *ctx, es_err *err);
int pg_file_base_tensor_each(meta_tx *tx, int64_t file_id,
                             int (*fn)(void *ctx, const meta_base_tensor *t),
                             void *ctx, es_err *err);
int pg_base_candidate_each(meta_tx *tx, const char *name, const char *dtype,
                           const char *shape, uint64_t raw_len, int most,
                           int (*fn)(void *ctx, const meta_base_candidate *c),
                           void *ctx, es_err *err);
int pg_file_delta_get(meta_tx *tx, int64_t file_id, int64_t *segments,
                      int64_t *bytes, char base_repo[200], es_err *err);
int pg_tensor_by_fingerprint(meta_tx *tx, const char *fingerprint,
                             int64_t *id, uint64_t *raw_len, es_err *err);
int pg_repo_base_get(meta_tx *tx, int64_t repo_id, char base[256],
                     es_err *err);
int pg_repo_base_set(meta_tx *tx, int64_t repo_id, const char *base,
                     es_err *err);
int pg_tensor_dead_delete(meta_tx *tx, int64_t before, int64_t *n,
                          es_err *err);
int pg_chunk_dead_each(meta_tx *tx, int64_t before,
                       int (*fn)(void *ctx, const meta_chunk *c), void *ctx,
                       es_err *err);
int pg_chunk_delete(meta_tx *tx, int64_t chunk_id, es_err *err);
int pg_container_live_bytes(meta_tx *tx, uint64_t container, int64_t *out,
                            es_err *err);
int pg_container_chunk_each(meta_tx *tx, uint64_t container,
                            int (*fn)(void *ctx, const meta_chunk *c),
                            void *ctx, es_err *err);
int pg_chunk_move(meta_tx *tx, int64_t chunk_id, uint64_t container,
                  uint64_t offset, es_err *err);
int pg_container_forget(meta_tx *tx, uint64_t container, es_err *err);
int pg_spool_named(meta_tx *tx, const char *name, es_err *err);

/* meta_pg_check.c */
int pg_check_count(meta_tx *tx, const char *sql, int64_t *out, es_err *err);
int pg_check_repair(meta_tx *tx, const char *sql, int64_t now,
                    int64_t *changed, es_err *err);
int pg_chunk_container_each(meta_tx *tx,
                            int (*fn)(void *ctx, uint64_t container,
                                      int64_t chunks, int64_t bytes, uint64_t end),
                            void *ctx, es_err *err);

#endif /* ELVESD_META_PG_INTERNAL_H */
