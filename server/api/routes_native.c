/*
 * routes_native.c - the native API for curl, under /api/v1, and /healthz.
 *
 * Each handler checks its inputs (repo name, file path, revision) with the
 * shared helpers below, makes one store call and answers with its JSON or
 * its error.  Uploads stream the request body into a spool file as it
 * arrives (store_spool_*); downloads go through download.c.  api.md
 * documents every route.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "download.h"
#include "http.h"
#include "routes_api.h"
#include "store.h"

#define REPO_NAME_MAX 200
#define REVISION_MAX 255

static es_store *store_of(http_req *req)
{
    return http_app(req);
}

/* The common ending: rc == 0 -> status with out, else the store's error. */
static void respond_result(http_req *req, unsigned status, int rc, json_t *out,
                           const es_err *e)
{
    if (rc == 0) {
        http_respond_json(req, status, out);
    } else {
        json_decref(out);
        http_respond_err(req, e);
    }
}

/* ---- inputs
 * ------------------------------------------------------------------ */

/* "org/name" from the route captures, checked; answers 400 itself. */
static int repo_name(http_req *req, char out[REPO_NAME_MAX])
{
    if (http_repo_name(out, REPO_NAME_MAX, http_param(req, "org"),
                       http_param(req, "name"), 0) < 0 ||
        !store_repo_name_valid(out)) {
        http_respond_error(req, 400,
                           "invalid repository name: use org/name, each part "
                           "1-96 of A-Z a-z 0-9 . _ - not starting with . or "
                           "-");
        return -1;
    }
    return 0;
}

static int file_path(http_req *req, const char **out)
{
    const char *path = http_param(req, "path");
    const char *why = path ? http_path_problem(path) : "missing path";
    if (why == NULL && !store_path_valid(path))
        why = "invalid path";
    if (why != NULL) {
        http_respond_error(req, 400, "bad file path: %s", why);
        return -1;
    }
    *out = path;
    return 0;
}

/* ?revision=, "main" by default. */
static int revision(http_req *req, const char **out)
{
    const char *rev = http_arg(req, "revision");
    if (rev == NULL) {
        *out = "main";
        return 0;
    }
    size_t len = strlen(rev);
    int ok = len > 0 && len <= REVISION_MAX;
    for (size_t i = 0; ok && i < len; i++)
        ok = (unsigned char)rev[i] >= 0x20 && rev[i] != 0x7f;
    if (!ok) {
        http_respond_error(req, 400, "bad revision");
        return -1;
    }
    *out = rev;
    return 0;
}

/* The repo and (for file routes) path and revision of a request. */
typedef struct target {
    char repo[REPO_NAME_MAX];
    const char *path;
    const char *rev;
} target;

static int file_target(http_req *req, target *t)
{
    if (repo_name(req, t->repo) != 0 || file_path(req, &t->path) != 0 ||
        revision(req, &t->rev) != 0)
        return -1;
    return 0;
}

/* ---- health, repositories
 * ---------------------------------------------------- */

static void h_healthz(http_req *req)
{
    http_respond_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

/* {"name": "org/model", "mode": "lossless"|"elf", "base": "org/base"};
 * answers 400 itself. */
static int parse_repo_create(http_req *req, json_t **root, const char **name,
                             const char **mode, const char **base)
{
    size_t len;
    const char *body = http_body(req, &len);
    json_error_t jerr;
    *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (*root == NULL || !json_is_object(*root)) {
        http_respond_error(req, 400, "body must be a JSON object: %s",
                           *root ? "not an object" : jerr.text);
        return -1;
    }
    json_t *jn = json_object_get(*root, "name");
    json_t *jm = json_object_get(*root, "mode");
    *name = json_string_value(jn);
    *mode = jm ? json_string_value(jm) : "lossless";
    if (*name == NULL || !store_repo_name_valid(*name)) {
        http_respond_error(req, 400, "\"name\" must be a valid org/name");
        return -1;
    }
    if (*mode == NULL ||
        (strcmp(*mode, "lossless") != 0 && strcmp(*mode, "elf") != 0)) {
        http_respond_error(req, 400,
                           "\"mode\" must be \"lossless\" or \"elf\"");
        return -1;
    }
    json_t *jb = json_object_get(*root, "base");
    *base = jb && !json_is_null(jb) ? json_string_value(jb) : NULL;
    if (jb && !json_is_null(jb) &&
        (*base == NULL || !store_base_spec_valid(*base))) {
        http_respond_error(req, 400,
                           "\"base\" must be \"org/name\" or "
                           "\"org/name@revision\"");
        return -1;
    }
    return 0;
}

static void h_repo_create(http_req *req)
{
    json_t *root = NULL, *out = NULL;
    const char *name, *mode, *base;
    es_err e = {0};
    if (auth_require_write(req) != 0)
        return;
    if (parse_repo_create(req, &root, &name, &mode, &base) == 0) {
        int rc = store_repo_create(store_of(req), name, mode, &out, &e);
        if (rc == 0 && base) {
            json_decref(out);
            out = NULL;
            rc = store_repo_set_base(store_of(req), name, base, &e);
            if (rc == 0)
                rc = store_repo_get(store_of(req), name, &out, &e);
        }
        respond_result(req, 201, rc, out, &e);
    }
    json_decref(root);
}

/* Private repositories are listed only to requests that may read them. */
static void h_repo_list(http_req *req)
{
    json_t *out = NULL;
    es_err e = {0};
    hf_token tok;
    if (auth_token(req, &tok, &e) < 0) { /* an unknown token: 401 */
        http_respond_err(req, &e);
        return;
    }
    int rc = store_repo_list(store_of(req), &out, &e);
    for (size_t i = 0; rc == 0 && i < json_array_size(out);) {
        json_t *name = json_object_get(json_array_get(out, i), "name");
        if (auth_may_read(req, json_string_value(name)))
            i++;
        else
            json_array_remove(out, i);
    }
    respond_result(req, 200, rc, out, &e);
}

static void h_repo_get(http_req *req)
{
    char repo[REPO_NAME_MAX];
    json_t *out = NULL;
    es_err e = {0};
    if (repo_name(req, repo) != 0 || auth_require_read(req, repo) != 0)
        return;
    int rc = store_repo_get(store_of(req), repo, &out, &e);
    respond_result(req, 200, rc, out, &e);
}

static void h_repo_delete(http_req *req)
{
    char repo[REPO_NAME_MAX];
    es_err e = {0};
    if (auth_require_write(req) != 0)
        return;
    if (repo_name(req, repo) != 0)
        return;
    int rc = store_repo_delete(store_of(req), repo, &e);
    respond_result(req, 200, rc, json_pack("{s:s}", "deleted", repo), &e);
}

static void h_repo_stats(http_req *req)
{
    char repo[REPO_NAME_MAX];
    json_t *out = NULL;
    es_err e = {0};
    if (repo_name(req, repo) != 0 || auth_require_read(req, repo) != 0)
        return;
    int rc = store_stats(store_of(req), repo, &out, &e);
    respond_result(req, 200, rc, out, &e);
}

/* ---- files
 * ------------------------------------------------------------------------ */

static void h_file_list(http_req *req)
{
    char repo[REPO_NAME_MAX];
    const char *rev;
    json_t *out = NULL;
    es_err e = {0};
    if (repo_name(req, repo) != 0 || revision(req, &rev) != 0 ||
        auth_require_read(req, repo) != 0)
        return;
    int rc = store_file_list(store_of(req), repo, rev, &out, &e);
    respond_result(req, 200, rc, out, &e);
}

static void h_file_get(http_req *req)
{
    target t;
    store_file f;
    es_err e = {0};
    if (file_target(req, &t) != 0 || auth_require_read(req, t.repo) != 0)
        return;
    if (store_file_lookup(store_of(req), t.repo, t.rev, t.path, &f, &e) != 0) {
        http_respond_err(req, &e);
        return;
    }
    download_serve(req, store_of(req), &f, NULL, NULL);
}

static void h_file_delete(http_req *req)
{
    target t;
    es_err e = {0};
    if (auth_require_write(req) != 0)
        return;
    if (file_target(req, &t) != 0)
        return;
    int rc = store_file_delete(store_of(req), t.repo, t.rev, t.path, &e);
    respond_result(req, 200, rc,
                   json_pack("{s:s,s:s,s:s}", "deleted", t.path, "repo", t.repo,
                             "revision", t.rev),
                   &e);
}

/* ---- upload: PUT streams the body into a spool file
 * -------------------------- */

typedef struct upload {
    es_store *st;
    store_spool *sp; /* NULL once committed or aborted */
    target t;
    char sha256[65]; /* expected, from X-Content-Sha256; "" if none */
} upload;

static void upload_free(void *state, int completed)
{
    upload *u = state;
    if (u->sp != NULL) /* client went away, or an error: nothing stored */
        store_spool_abort(u->sp);
    free(u);
}

/* X-Content-Sha256: 64 hex digits, kept lowercase.  Answers 400 itself. */
static int expected_sha(http_req *req, char out[65])
{
    const char *h = http_header(req, "X-Content-Sha256");
    out[0] = '\0';
    if (h == NULL)
        return 0;
    size_t len = strlen(h);
    for (size_t i = 0; i < len && len == 64; i++) {
        if (!isxdigit((unsigned char)h[i]))
            len = 0;
        out[i] = (char)tolower((unsigned char)h[i]);
    }
    if (len != 64) {
        out[0] = '\0';
        http_respond_error(req, 400, "X-Content-Sha256 must be 64 hex digits");
        return -1;
    }
    out[64] = '\0';
    return 0;
}

/* Headers in: check everything before the client sends the body, so a bad
 * request is refused before megabytes travel (curl waits for 100-continue). */
static void upload_begin(http_req *req)
{
    upload *u = calloc(1, sizeof *u);
    es_err e = {0};
    if (u == NULL) {
        http_respond_error(req, 500, "out of memory");
        return;
    }
    u->st = store_of(req);
    http_set_state(req, u, upload_free);
    if (auth_require_write(req) != 0)
        return;
    if (file_target(req, &u->t) != 0 || expected_sha(req, u->sha256) != 0)
        return;
    if (store_branch_check(u->st, u->t.repo, u->t.rev, &e) != 0 ||
        store_spool_begin(u->st, &u->sp, &e) != 0)
        http_respond_err(req, &e);
}

static void upload_data(http_req *req, const char *data, size_t len)
{
    upload *u = http_state(req);
    es_err e = {0};
    if (store_spool_write(u->sp, data, len, &e) != 0) {
        store_spool_abort(u->sp);
        u->sp = NULL;
        http_fail_err(req, &e);
    }
}

/* Appends s percent-encoded (a path, '/' kept) to out. */
static void append_pct(char *out, size_t cap, const char *s)
{
    size_t o = strlen(out);
    http_pct_encode(out + o, cap - o, s, 1);
}

/* 201 with the new file's absolute download URL in Location (built on
 * http_public_base, so it points at the proxy when there is one). */
static void respond_created_file(http_req *req, const target *t, json_t *out)
{
    char url[4096];
    struct MHD_Response *r = http_json_response(req, out);
    if (r != NULL && http_public_base(req, url, sizeof url) == 0) {
        snprintf(url + strlen(url), sizeof url - strlen(url),
                 "/api/v1/repos/%s/files/", t->repo);
        append_pct(url, sizeof url, t->path);
        if (strcmp(t->rev, "main") != 0) {
            strncat(url, "?revision=", sizeof url - strlen(url) - 1);
            append_pct(url, sizeof url, t->rev);
        }
        MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, url);
    }
    http_respond(req, 201, r);
}

static void h_file_put(http_req *req)
{
    upload *u = http_state(req);
    json_t *out = NULL;
    es_err e = {0};
    store_spool *sp = u->sp;
    if (sp == NULL) {
        http_respond_error(req, 500, "upload lost its spool file");
        return;
    }
    /* X-Elves-Base: the repository's base model (store_repo_set_base),
     * declared before the file's compression job can look for it. */
    const char *base = http_header(req, "X-Elves-Base");
    if (base && store_repo_set_base(u->st, u->t.repo, base, &e) < 0) {
        store_spool_abort(sp);
        u->sp = NULL;
        http_respond_err(req, &e);
        return;
    }
    u->sp = NULL; /* store_spool_commit consumes it in every case */
    int rc = store_spool_commit(u->st, sp, u->t.repo, u->t.rev, u->t.path,
                                u->sha256[0] ? u->sha256 : NULL, &out, &e);
    if (rc == 0)
        respond_created_file(req, &u->t, out);
    else
        respond_result(req, 201, rc, out, &e);
}

static const http_body_sink upload_sink = {upload_begin, upload_data};

/* ---- jobs, stats, gc
 * ------------------------------------------------------------- */

static void h_job_get(http_req *req)
{
    const char *s = http_param(req, "id");
    char *end;
    errno = 0;
    long long id = strtoll(s, &end, 10);
    json_t *out = NULL;
    es_err e = {0};
    if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 || id <= 0) {
        http_respond_error(req, 400, "job id must be a positive integer");
        return;
    }
    int rc = store_job_get(store_of(req), (int64_t)id, &out, &e);
    respond_result(req, 200, rc, out, &e);
}

static void h_stats(http_req *req)
{
    json_t *out = NULL;
    es_err e = {0};
    int rc = store_stats(store_of(req), NULL, &out, &e);
    respond_result(req, 200, rc, out, &e);
}

static void h_gc(http_req *req)
{
    json_t *out = NULL;
    es_err e = {0};
    if (auth_require_write(req) != 0)
        return;
    int rc = store_gc(store_of(req), &out, &e);
    respond_result(req, 200, rc, out, &e);
}

#define REPO "/api/v1/repos/{org}/{name}"

const http_route routes_native[] = {
    {HTTP_GET, "/healthz", h_healthz, NULL},
    {HTTP_POST, "/api/v1/repos", h_repo_create, NULL},
    {HTTP_GET, "/api/v1/repos", h_repo_list, NULL},
    {HTTP_GET, REPO, h_repo_get, NULL},
    {HTTP_DELETE, REPO, h_repo_delete, NULL},
    {HTTP_GET, REPO "/stats", h_repo_stats, NULL},
    {HTTP_GET, REPO "/files", h_file_list, NULL},
    {HTTP_PUT, REPO "/files/{path*}", h_file_put, &upload_sink},
    {HTTP_GET, REPO "/files/{path*}", h_file_get, NULL},
    {HTTP_DELETE, REPO "/files/{path*}", h_file_delete, NULL},
    {HTTP_GET, "/api/v1/jobs/{id}", h_job_get, NULL},
    {HTTP_GET, "/api/v1/stats", h_stats, NULL},
    {HTTP_POST, "/api/v1/gc", h_gc, NULL},
    {0, NULL, NULL, NULL},
};
