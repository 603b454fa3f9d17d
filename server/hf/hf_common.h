/*
 * hf_common.h - helpers the Hugging Face route files (routes_hf.c:
 * downloads, repo info, tree, paths-info, repo creation; routes_hf_upload.c:
 * preupload, LFS batch/PUT/verify, commit; routes_hf_repo.c: listings,
 * branches, tags, history, settings, move, delete) and the mirror
 * (mirror.c) share.
 *
 * Every error answer carries X-Error-Code (when the Hub has one for it)
 * and X-Error-Message, since huggingface_hub reads those, over plain HTTP,
 * to tell a missing repo from a missing revision or file.
 */
#ifndef ELVESD_HF_COMMON_H
#define ELVESD_HF_COMMON_H

#include "http.h"
#include "store_hf.h"

/* Error codes the clients know. */
#define HF_REPO_NOT_FOUND "RepoNotFound"
#define HF_REVISION_NOT_FOUND "RevisionNotFound"
#define HF_ENTRY_NOT_FOUND "EntryNotFound"
#define HF_GATED_REPO "GatedRepo"

/* Answers status with {"error": msg}, X-Error-Message, and X-Error-Code /
 * X-Repo-Commit when not NULL. */
void hf_fail(http_req *req, unsigned status, const char *code,
             const char *commit, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* As hf_fail without a code, the keys of extra (a JSON object, stolen; may
 * be NULL) added to the body: the Hub's 409 for an existing repo carries
 * its "url". */
void hf_fail_with(http_req *req, unsigned status, json_t *extra,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The same from a store error (code used only for its 404s). */
void hf_fail_err(http_req *req, const es_err *e, const char *code);

/* "org/name" from the {org}/{name} captures, a ".git" ending dropped.
 * Returns 0, or -1 if a capture is missing or the name too long. */
int hf_repo_name(http_req *req, char out[HF_NAME_MAX]);

/* The repo called name (NULL: none) of the given type, whoever asks;
 * answers 404 RepoNotFound (or another store error) itself. */
int hf_find_repo(http_req *req, const char *name, const char *type,
                 hf_repo *out);

/* The repo named by the {org}/{name} captures (name may end in ".git"),
 * of the given type, readable by the request.  Answers the error itself
 * (404 RepoNotFound, 401 for a private repo without a token). */
int hf_open_repo(http_req *req, const char *type, hf_repo *out);
/* As hf_open_repo, and the request must be allowed to write. */
int hf_open_repo_write(http_req *req, const char *type, hf_repo *out);

/* A gated repo's files (and auth-check) need a valid token: 0 if the
 * request may have them, else answers 401 GatedRepo itself (-1). */
int hf_check_gated(http_req *req, const hf_repo *r);

/* The body as a JSON object; answers 400 itself.  hf_body_json_opt: an
 * empty body is {}. */
json_t *hf_body_json(http_req *req);
json_t *hf_body_json_opt(http_req *req);

/* "org/name" from a body's {"name": "org/name"} or {"name",
 * "organization"} (repos/create, repos/delete): 0, or -1 if missing or
 * not a valid name. */
int hf_body_repo_name(json_t *body, char out[HF_NAME_MAX]);

/* Query argument name is true ("true", "True", "1"). */
int hf_arg_true(http_req *req, const char *name);
/* A count from a query argument: def if s is NULL, -1 if it is not a
 * number or above max. */
int hf_parse_count(const char *s, size_t def, size_t max, size_t *out);

/* "models" or "datasets" API path part, and the URL prefix of a type
 * ("" or "datasets/"). */
const char *hf_api_kind(const char *type);
const char *hf_url_prefix(const char *type);

/* "base" of absolute URLs (http_public_base); answers 500 itself. */
int hf_base(http_req *req, char *out, size_t cap);

#endif /* ELVESD_HF_COMMON_H */
