/*
 * auth.h - who may do what on elvesd: Bearer tokens ("hf_..."), the rules
 * for reading private repositories and for writing, the signed upload URLs
 * the LFS PUT uses (a client sends that PUT without a token), and the
 * `elvesd token create` command.
 *
 * Rules (documented in api.md):
 *   - a request that sends an unknown token gets 401, whatever it asks;
 *   - reading a private repository needs a valid token (read or write);
 *   - writing (HF uploads, repo creation, and the native /api/v1 writes)
 *     needs a write token once any token exists or with --require-auth 1;
 *     until then writes are open, which suits a loopback-only default.
 */
#ifndef ELVESD_AUTH_H
#define ELVESD_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "store_hf.h"

/* Loads (or creates, mode 0600) the signing secret data_dir/hf_secret.
 * Call once before serving.  Returns 0, or -1 with a message. */
int auth_init(const char *data_dir, int require_auth, char *err,
              size_t errlen);

/* The token the request carries: 1 and *out if a valid one, 0 if none,
 * -1 with err (401) if an unknown one. */
int auth_token(http_req *req, hf_token *out, es_err *err);

/* 0 if the request may write; -1 with err: 401 without a token, 403 with
 * a read-only one. */
int auth_check_write(http_req *req, es_err *err);

/* 0 if the request may read r; -1 with err (401) otherwise. */
int auth_check_read(http_req *req, const hf_repo *r, es_err *err);

/* For routes that only need the yes/no: answers the JSON error itself. */
int auth_require_write(http_req *req);
/* The native API's reads: 0 if the repo named is public, missing (the
 * route answers its own 404) or readable with the request's token; else
 * answers 401 itself and returns -1. */
int auth_require_read(http_req *req, const char *repo);
/* The same rule as a yes/no that answers nothing (listings): 1 if the
 * request may read repo, else 0. */
int auth_may_read(http_req *req, const char *repo);

/* Upload capabilities: the hex HMAC-SHA256, under the server's secret, of
 * (repo, oid, size, expiry), and its check (1 = valid and not expired). */
void auth_sign_upload(const char *repo, const char *oid, uint64_t size,
                      int64_t expires, char out[65]);
int auth_upload_ok(const char *repo, const char *oid, uint64_t size,
                   int64_t expires, const char *sig);

/* `elvesd token create [--data DIR] --name N [--write]`: argv[0] is
 * "token".  Prints the new token on stdout; returns the exit status. */
int auth_token_command(int argc, char **argv);

#endif /* ELVESD_AUTH_H */
