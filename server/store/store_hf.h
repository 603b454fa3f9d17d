/*
 * store_hf.h - the storage side of the Hugging Face compatible API
 * (routes_hf*.c): a repository's Hub settings (type, private, gated),
 * renames, revisions the way the Hub names them, branches, tags and
 * history, the files of a commit with what the Hub reports about them,
 * content-addressed objects (LFS uploads and files a commit sends inline)
 * that commits then name, multi-file commits, and access tokens.
 *
 * Conventions are store.h's: 0 on success, -1 with err filled (status +
 * message); every function may be called from any thread.
 *
 * History: a commit made here keeps the versions it replaces or deletes,
 * so every older commit stays downloadable (git semantics).  Only the
 * native API's explicit deletes (and replacing uploads) release versions.
 */
#ifndef ELVESD_STORE_HF_H
#define ELVESD_STORE_HF_H

#include <stdint.h>

#include "store.h"

#define HF_NAME_MAX 200

typedef struct hf_repo {
    int64_t id;
    char name[HF_NAME_MAX];
    char type[16]; /* "model" or "dataset" */
    int is_private;
    char gated[8]; /* "false", "auto" or "manual" */
    char mode[16]; /* "lossless" or "elf" */
    int64_t created; /* unix seconds */
} hf_repo;

/* A repository with its Hub settings; 404 if there is none. */
int store_hf_repo(es_store *st, const char *name, hf_repo *out, es_err *err);

/* Creates a repository (lossless, branch main) with Hub settings; type is
 * "model" or "dataset".  409 if the name is taken. */
int store_hf_repo_create(es_store *st, const char *name, const char *type,
                         int is_private, es_err *err);

/* Changes r's settings: is_private (-1 = keep) and gated ("false",
 * "auto", "manual"; NULL = keep); 400 for another gated value. */
int store_hf_settings(es_store *st, const hf_repo *r, int is_private,
                      const char *gated, es_err *err);

/* Renames repository `from` to `to` (the Hub's move): 404 if from does
 * not exist, 409 if to is taken, 400 if to is not a valid name.  Its
 * history, refs and settings go with it. */
int store_hf_repo_move(es_store *st, const char *from, const char *to,
                       es_err *err);

typedef struct hf_rev {
    char commit[41];
    int64_t created; /* unix seconds of that commit */
    char message[256];
} hf_rev;

/* Calls fn for every repository in name order with its settings and the
 * head of main; fn returning non-zero stops the walk and is returned.
 * fn runs inside a read transaction: it may not call the store. */
int store_hf_repo_each(es_store *st,
                       int (*fn)(void *ctx, const hf_repo *r,
                                 const hf_rev *main),
                       void *ctx, es_err *err);

/* Resolves rev of r: "HEAD" (= main), a branch or tag, "refs/heads/X",
 * "refs/tags/X", or a 40-hex commit id of the repository.  404 if none. */
int store_hf_resolve(es_store *st, const hf_repo *r, const char *rev,
                     hf_rev *out, es_err *err);

/* ---- branches, tags, history ---------------------------------------------- */

/* Makes ref `name` of kind "branch" or "tag" point at the commit `from`
 * resolves to (NULL = main).  empty (branches only): at a new commit with
 * no parent and no file instead.  409 if the name is taken (overwrite:
 * a branch is moved instead), 404 if from does not resolve, 400 for a
 * bad name (empty, too long, a 40-hex id, "HEAD", control characters,
 * or starting with "refs/"). */
int store_hf_ref_create(es_store *st, const hf_repo *r, const char *kind,
                        const char *name, const char *from, int empty,
                        int overwrite, es_err *err);
/* Removes ref `name` of that kind: 404 if there is none, 400 for main.
 * Its commits stay (reachable by id). */
int store_hf_ref_delete(es_store *st, const hf_repo *r, const char *kind,
                        const char *name, es_err *err);
/* Calls fn for every ref of kind ("branch", "tag") in name order. */
int store_hf_refs(es_store *st, const hf_repo *r, const char *kind,
                  int (*fn)(void *ctx, const char *name, const char *commit),
                  void *ctx, es_err *err);

typedef struct hf_commit {
    char id[41];
    char parent[41]; /* "" for the first */
    int64_t created;
    const char *message; /* whole (summary, blank line, description) */
} hf_commit;

/* The history of the commit rev resolves to, newest first: fn for the
 * commits at positions [skip, skip + limit), *total all of them (at most
 * HF_HISTORY_MAX are walked).  fn runs inside a read transaction. */
#define HF_HISTORY_MAX 100000
int store_hf_history(es_store *st, const hf_repo *r, const char *rev,
                     size_t skip, size_t limit,
                     int (*fn)(void *ctx, const hf_commit *c), void *ctx,
                     size_t *total, es_err *err);

/* Replaces the history of branch by one commit without a parent holding
 * the files of its head (the Hub's super-squash); commit_out its id.
 * Older commits stay reachable by id. */
int store_hf_squash(es_store *st, const hf_repo *r, const char *branch,
                    const char *message, char commit_out[41], es_err *err);

typedef struct hf_file {
    char *path;
    uint64_t size;
    char sha256[65];   /* of the bytes served */
    char git_sha1[41]; /* blob id of a file committed inline; "" = LFS */
    int64_t file_id;   /* mirror listings: the fetched version, or 0 */
} hf_file;

typedef struct hf_file_list {
    hf_file *items;
    size_t n;
    size_t cap; /* of items; hf_file_list_add grows them */
} hf_file_list;

/* Every file of a commit, sorted by path (byte order). */
int store_hf_files(es_store *st, const char *commit, hf_file_list *out,
                   es_err *err);
/* Appends a copy of f (its path duplicated) to a listing that starts as
 * {0}; -1 (l unchanged) if out of memory. */
int hf_file_list_add(hf_file_list *l, const hf_file *f);
void hf_file_list_free(hf_file_list *l);

/* ---- objects ----------------------------------------------------------
 * An object is a file version not (yet) named by a commit, found by the
 * SHA-256 and size of its uploaded bytes and the repository's mode. */

/* 1 and *file_id if such an object exists, 0 if not, -1 on error. */
int store_hf_object_find(es_store *st, const hf_repo *r, const char *sha256,
                         uint64_t size, int64_t *file_id, es_err *err);

/* Makes the bytes of sp (consumed in every case) an object of r's mode:
 * sealed, recorded as a file version (state spooled) and queued for
 * compression, or, if the same object exists, that one is used and the
 * spool file dropped.  expect_sha256 (NULL = any) and expect_size (-1 =
 * any) are checked first (400, nothing kept).  git_sha1: the blob id when
 * the bytes came inline in a commit (NULL for LFS).  sha_out (may be NULL)
 * receives the SHA-256 of the bytes. */
int store_hf_object_put(es_store *st, const hf_repo *r, store_spool *sp,
                        const char *expect_sha256, int64_t expect_size,
                        const char *git_sha1, int64_t *file_id,
                        char sha_out[65], es_err *err);

/* ---- commits ----------------------------------------------------------- */

typedef enum hf_op_kind {
    HF_OP_PUT,           /* path -> file_id (an object) */
    HF_OP_PUT_LFS,       /* path -> the object sha256 + size */
    HF_OP_DELETE_FILE,   /* 404 if path is not a file */
    HF_OP_DELETE_FOLDER, /* every file under path/; 404 if none */
} hf_op_kind;

#define HF_SIZE_ANY UINT64_MAX

typedef struct hf_op {
    hf_op_kind kind;
    char *path;
    int64_t file_id;   /* HF_OP_PUT */
    char sha256[65];   /* HF_OP_PUT_LFS */
    uint64_t size;     /* HF_OP_PUT_LFS; HF_SIZE_ANY: a copy, by sha256 */
} hf_op;

/* One commit on branch of r applying ops in order, all or nothing.  parent
 * (NULL = none) must be the branch head (412 otherwise).  An HF_OP_PUT_LFS
 * whose object was never uploaded: 400, no commit.  A file may not sit on
 * a directory or under a file (409). */
int store_hf_commit(es_store *st, const hf_repo *r, const char *branch,
                    const char *parent, const char *message, const hf_op *ops,
                    size_t n, char commit_out[41], es_err *err);

/* ---- mirror (store_mirror.c) -------------------------------------------------
 * What a pull-through mirror remembers of its upstream (migrations/0003).
 * key: "model:org/name" or "dataset:org/name". */

/* The commit rev was last resolved to, and when: 1, or 0 if never. */
int store_mirror_pin_get(es_store *st, const char *key, const char *rev,
                         char commit[41], int64_t *fetched, es_err *err);
int store_mirror_pin_set(es_store *st, const char *key, const char *rev,
                         const char *commit, es_err *err);
/* 1 and the listing of commit (file_id set for fetched files; for a regular
 * file sha256 holds its blob id padded with '0'), 0 if not fetched yet. */
int store_mirror_listing(es_store *st, const char *key, const char *commit,
                         hf_file_list *out, int64_t *created, es_err *err);
/* Records the listing of commit (regular files: git_sha1 set). */
int store_mirror_save(es_store *st, const char *key, const char *commit,
                      const hf_file_list *files, es_err *err);
/* A file of commit has been fetched: it is file version file_id. */
int store_mirror_set_file(es_store *st, const char *key, const char *commit,
                          const char *path, int64_t file_id, es_err *err);
/* What download_serve needs for file version file_id, as part of commit.
 * 404 if it is gone. */
int store_file_by_id(es_store *st, int64_t file_id, const char *commit,
                     store_file *out, es_err *err);

/* ---- tokens (tokens.c) ------------------------------------------------------
 * "hf_" + 40 hex digits; the database keeps only their SHA-256. */

typedef struct hf_token {
    int64_t id;
    char name[128];
    int can_write;
} hf_token;

/* 401 if token is not a known token. */
int store_token_check(es_store *st, const char *token, hf_token *out,
                      es_err *err);
/* How many tokens exist. */
int store_token_count(es_store *st, int64_t *n, es_err *err);
/* Creates a token in the database under data_dir, or in the PostgreSQL
 * database named by the URL `database` when not NULL, without a running
 * store (the `elvesd token create` command; safe while servers run).  out
 * receives the token, shown to the user once. */
int store_token_create(const char *data_dir, const char *database,
                       const char *name, int can_write, char out[64],
                       es_err *err);

#endif /* ELVESD_STORE_HF_H */
