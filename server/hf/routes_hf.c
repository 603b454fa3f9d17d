/*
 * routes_hf.c - the Hugging Face Hub API, download side, for unmodified
 * clients (huggingface_hub, @huggingface/hub, transformers.js, hfd):
 * repo info, tree, paths-info, resolve/raw file downloads, repo creation,
 * validate-yaml and whoami.  Protocol facts: api.md, "Hugging Face
 * compatibility".
 *
 * Every route exists for models ("/api/models/...", "/{repo}/...") and
 * datasets ("/api/datasets/...", "/datasets/{repo}/..."); HF_BOTH makes the
 * two entry points of one handler.  A repo is found under the prefix of its
 * type only.  File bytes are served by download.c, like the native API.
 */
#include "hf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "download.h"
#include "hf_common.h"
#include "hf_json.h"
#include "mirror.h"
#include "vec.h"

#define TREE_PAGE_DEFAULT 1000
#define TREE_PAGE_MAX 10000
#define PATHS_MAX 10000

#define HF_BOTH(fn)                                                            \
    static void fn##_model(http_req *req) { fn(req, "model"); }                \
    static void fn##_dataset(http_req *req) { fn(req, "dataset"); }

/* ---- revisions and file lists ------------------------------------------------ */

/* The revision of the request ({rev} capture, else main); answers 404
 * RevisionNotFound itself. */
static int open_rev(http_req *req, const hf_repo *r, hf_rev *out)
{
    const char *rev = http_param(req, "rev");
    es_err e = {0};
    if (store_hf_resolve(http_app(req), r, rev ? rev : "main", out, &e) < 0) {
        hf_fail_err(req, &e, HF_REVISION_NOT_FOUND);
        return -1;
    }
    return 0;
}

static int open_files(http_req *req, const hf_rev *rev, hf_file_list *out)
{
    es_err e = {0};
    if (store_hf_files(http_app(req), rev->commit, out, &e) < 0) {
        hf_fail_err(req, &e, NULL);
        return -1;
    }
    return 0;
}

/* With --upstream: the repo named by the request when it is not a local
 * one (then it is the upstream's), else NULL. */
static const char *mirrored_name(http_req *req, char name[HF_NAME_MAX])
{
    hf_repo r;
    es_err e = {0};
    if (!mirror_enabled() || hf_repo_name(req, name) < 0 ||
        !store_repo_name_valid(name))
        return NULL;
    return store_hf_repo(http_app(req), name, &r, &e) < 0 && e.status == 404
               ? name
               : NULL;
}

/* Repo, revision and files: what info, tree and paths-info start with;
 * from the upstream for a mirrored repo. */
static int open_snapshot(http_req *req, const char *type, hf_repo *r,
                         hf_rev *rev, hf_file_list *files)
{
    char name[HF_NAME_MAX];
    if (mirrored_name(req, name))
        return mirror_snapshot(req, type, name, http_param(req, "rev"), r,
                               rev, files);
    if (hf_open_repo(req, type, r) < 0 || open_rev(req, r, rev) < 0 ||
        open_files(req, rev, files) < 0)
        return -1;
    return 0;
}

/* ---- repo info --------------------------------------------------------------- */

static void h_info(http_req *req, const char *type)
{
    hf_repo r;
    hf_rev rev;
    hf_file_list files = {0};
    if (open_snapshot(req, type, &r, &rev, &files) < 0)
        return;
    http_respond_json(req, 200, hf_repo_info(&r, &rev, &files));
    hf_file_list_free(&files);
}
HF_BOTH(h_info)

/* ---- tree -------------------------------------------------------------------- */

/* Link: <...tree/rev/path?...&cursor=next>; rel="next" */
static void add_next_link(http_req *req, struct MHD_Response *resp,
                          const char *type, const hf_repo *r, size_t limit,
                          size_t next)
{
    char base[1024], rev[800], path[3200], link[6000];
    const char *p = http_param(req, "path");
    if (http_public_base(req, base, sizeof base) < 0)
        return;
    http_pct_encode(rev, sizeof rev, http_param(req, "rev"), 0);
    http_pct_encode(path, sizeof path, p ? p : "", 1);
    snprintf(link, sizeof link,
             "<%s/api/%s/%s/tree/%s%s%s?recursive=%s&expand=%s&limit=%zu&"
             "cursor=%zu>; rel=\"next\"",
             base, hf_api_kind(type), r->name, rev, p ? "/" : "", path,
             hf_arg_true(req, "recursive") ? "true" : "false",
             hf_arg_true(req, "expand") ? "true" : "false", limit, next);
    MHD_add_response_header(resp, "Link", link);
}

static json_t *page_of(json_t *all, size_t from, size_t limit)
{
    json_t *page = json_array();
    for (size_t i = from; i < json_array_size(all) && i < from + limit; i++)
        json_array_append(page, json_array_get(all, i));
    return page;
}

static void h_tree(http_req *req, const char *type)
{
    hf_repo r;
    hf_rev rev;
    hf_file_list files = {0};
    size_t limit, cursor;
    const char *dir = http_param(req, "path");
    if (hf_parse_count(http_arg(req, "limit"), TREE_PAGE_DEFAULT, TREE_PAGE_MAX,
                    &limit) < 0 ||
        limit == 0 || hf_parse_count(http_arg(req, "cursor"), 0, SIZE_MAX / 2,
                                  &cursor) < 0) {
        http_respond_error(req, 400, "limit and cursor must be numbers");
        return;
    }
    if (open_snapshot(req, type, &r, &rev, &files) < 0)
        return;
    json_t *all = hf_tree(&files, dir ? dir : "", hf_arg_true(req, "recursive"));
    hf_file_list_free(&files);
    if (!all) {
        hf_fail(req, 404, HF_ENTRY_NOT_FOUND, rev.commit,
                "'%.200s' is not a directory of %s", dir ? dir : "", r.name);
        return;
    }
    struct MHD_Response *resp = http_json_response(req, page_of(all, cursor, limit));
    if (resp && cursor + limit < json_array_size(all))
        add_next_link(req, resp, type, &r, limit, cursor + limit);
    json_decref(all);
    http_respond(req, 200, resp);
}
HF_BOTH(h_tree)

/* ---- paths-info -------------------------------------------------------------- */

/* The paths asked for: a vec of char *, owned. */
static void path_set_free(vec *ps)
{
    for (size_t i = 0; i < ps->n; i++)
        free(VEC_AT(ps, char *, i));
    vec_free(ps);
}

/* Adds p[0..len), percent-decoded if it comes from a form. */
static int path_set_add(vec *ps, const char *p, size_t len, int decode)
{
    if (ps->n >= PATHS_MAX)
        return -1;
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    if (!decode) {
        memcpy(copy, p, len);
        copy[len] = '\0';
    } else if (http_pct_decode(copy, len + 1, p, len, 1) < 0) {
        free(copy);
        return -1;
    }
    if (vec_push(ps, &copy) < 0) {
        free(copy);
        return -1;
    }
    return 0;
}

/* Python: paths=a&paths=b&expand=False (form-encoded). */
static int paths_from_form(const char *body, size_t len, vec *ps)
{
    const char *end = body + len;
    for (const char *p = body; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        size_t n = amp ? (size_t)(amp - p) : (size_t)(end - p);
        if (n > 6 && memcmp(p, "paths=", 6) == 0 &&
            path_set_add(ps, p + 6, n - 6, 1) < 0)
            return -1;
        p += n + 1;
    }
    return 0;
}

/* JS: {"paths": [...], "expand": bool} */
static int paths_from_json(const char *body, size_t len, vec *ps)
{
    json_t *root = json_loadb(body, len, 0, NULL);
    json_t *arr = json_object_get(root, "paths"), *v;
    size_t i;
    int rc = json_is_array(arr) ? 0 : -1;
    json_array_foreach(arr, i, v)
    {
        const char *s = json_string_value(v);
        if (rc == 0 && (!s || path_set_add(ps, s, strlen(s), 0) < 0))
            rc = -1;
    }
    json_decref(root);
    return rc;
}

static void h_paths_info(http_req *req, const char *type)
{
    hf_repo r;
    hf_rev rev;
    hf_file_list files = {0};
    vec ps = VEC_INIT(char *);
    size_t len;
    const char *body = http_body(req, &len);
    const char *ct = http_header(req, "Content-Type");
    int is_json = (ct && strstr(ct, "json")) || (len && body[0] == '{');
    if ((is_json ? paths_from_json(body, len, &ps)
                 : paths_from_form(body, len, &ps)) < 0) {
        path_set_free(&ps);
        http_respond_error(req, 400,
                           "expected paths=... (form) or {\"paths\":[...]}");
        return;
    }
    if (open_snapshot(req, type, &r, &rev, &files) == 0) {
        http_respond_json(req, 200,
                          hf_paths_info(&files, (const char *const *)ps.items,
                                        ps.n));
        hf_file_list_free(&files);
    }
    path_set_free(&ps);
}
HF_BOTH(h_paths_info)

/* ---- resolve / raw ---------------------------------------------------------- */

static void linked_headers(struct MHD_Response *r, void *ctx)
{
    const store_file *f = ctx;
    char size[32], etag[70];
    snprintf(size, sizeof size, "%llu", (unsigned long long)f->size);
    snprintf(etag, sizeof etag, "\"%s\"", f->sha256);
    MHD_add_response_header(r, "X-Linked-Size", size);
    MHD_add_response_header(r, "X-Linked-ETag", etag);
}

static int by_path(const void *key, const void *item)
{
    return strcmp(key, ((const hf_file *)item)->path);
}

static void resolve_mirrored(http_req *req, const char *type)
{
    hf_repo r;
    hf_rev rev;
    hf_file_list files = {0};
    const char *path = http_param(req, "path");
    if (open_snapshot(req, type, &r, &rev, &files) < 0)
        return;
    const hf_file *f = files.n && path ? bsearch(path, files.items, files.n,
                                                 sizeof *files.items, by_path)
                                       : NULL;
    if (f)
        mirror_download(req, &r, &rev, f);
    else
        hf_fail(req, 404, HF_ENTRY_NOT_FOUND, rev.commit,
                "Entry not found: %.200s", path ? path : "");
    hf_file_list_free(&files);
}

static void h_resolve(http_req *req, const char *type)
{
    hf_repo r;
    hf_rev rev;
    store_file f;
    es_err e = {0};
    char name[HF_NAME_MAX];
    const char *path = http_param(req, "path");
    if (mirrored_name(req, name)) {
        resolve_mirrored(req, type);
        return;
    }
    if (hf_open_repo(req, type, &r) < 0 || hf_check_gated(req, &r) < 0 ||
        open_rev(req, &r, &rev) < 0)
        return;
    if (!path || http_path_problem(path) != NULL ||
        store_file_lookup(http_app(req), r.name, rev.commit, path, &f, &e) <
            0) {
        if (e.status && e.status != 404)
            hf_fail_err(req, &e, NULL);
        else
            hf_fail(req, 404, HF_ENTRY_NOT_FOUND, rev.commit,
                    "Entry not found: %.200s", path ? path : "");
        return;
    }
    download_serve(req, http_app(req), &f, linked_headers, &f);
}
HF_BOTH(h_resolve)

/* ---- repos/create, validate-yaml, whoami --------------------------------- */

static int create_private(json_t *body)
{
    const char *vis = json_string_value(json_object_get(body, "visibility"));
    return json_is_true(json_object_get(body, "private")) ||
           (vis && strcmp(vis, "private") == 0);
}

/* The Hub's 409: {"error", "url"} of the repo that holds the name, which
 * create_repo(exist_ok=True) (so `hf upload`) returns as the repo's URL. */
static void repo_exists(http_req *req, const char *name, const char *base)
{
    hf_repo r;
    es_err e = {0};
    char url[1400];
    if (store_hf_repo(http_app(req), name, &r, &e) < 0) {
        hf_fail_err(req, &e, NULL); /* deleted in between */
        return;
    }
    snprintf(url, sizeof url, "%s/%s%s", base, hf_url_prefix(r.type), name);
    hf_fail_with(req, 409, json_pack("{s:s}", "url", url),
                 "You already created this %s repo", r.type);
}

static void h_repo_create(http_req *req)
{
    char name[HF_NAME_MAX], base[1024], url[1400];
    es_err e = {0};
    if (auth_check_write(req, &e) < 0) {
        hf_fail_err(req, &e, NULL);
        return;
    }
    json_t *body = hf_body_json(req);
    if (!body)
        return;
    const char *type = json_string_value(json_object_get(body, "type"));
    type = type ? type : "model";
    if (hf_body_repo_name(body, name) < 0) {
        http_respond_error(req, 400, "name must be org/name (or name + "
                                     "organization), parts of A-Z a-z 0-9 . "
                                     "_ -");
    } else if (hf_base(req, base, sizeof base) == 0) {
        snprintf(url, sizeof url, "%s/%s%s", base, hf_url_prefix(type), name);
        if (store_hf_repo_create(http_app(req), name, type,
                                 create_private(body), &e) == 0)
            http_respond_json(req, 200,
                              json_pack("{s:s, s:s, s:s}", "url", url, "name",
                                        name, "id", name));
        else if (e.status == 409)
            repo_exists(req, name, base);
        else
            hf_fail_err(req, &e, NULL);
    }
    json_decref(body);
}

static void h_validate_yaml(http_req *req)
{
    http_respond_json(req, 200, json_pack("{s:[], s:[]}", "errors",
                                          "warnings"));
}

static void h_whoami(http_req *req)
{
    hf_token t;
    es_err e = {0};
    int has = auth_token(req, &t, &e);
    if (has <= 0) {
        hf_fail(req, 401, NULL, NULL, "%s",
                has < 0 ? e.msg : "send Authorization: Bearer hf_...");
        return;
    }
    const char *role = t.can_write ? "write" : "read";
    http_respond_json(
        req, 200,
        json_pack("{s:s, s:s, s:s, s:s, s:[], s:{s:s, s:{s:s, s:s}}}", "type",
                  "user", "id", t.name, "name", t.name, "fullname", t.name,
                  "orgs", "auth", "type", "access_token", "accessToken",
                  "displayName", t.name, "role", role));
}

/* ---- the table ------------------------------------------------------------------ */

#define API_M "/api/models/{org}/{name}"
#define API_D "/api/datasets/{org}/{name}"

const http_route routes_hf[] = {
    {HTTP_POST, "/api/repos/create", h_repo_create, NULL},
    {HTTP_POST, "/api/validate-yaml", h_validate_yaml, NULL},
    {HTTP_GET, "/api/whoami-v2", h_whoami, NULL},
    {HTTP_GET, API_M, h_info_model, NULL},
    {HTTP_GET, API_D, h_info_dataset, NULL},
    {HTTP_GET, API_M "/revision/{rev}", h_info_model, NULL},
    {HTTP_GET, API_D "/revision/{rev}", h_info_dataset, NULL},
    {HTTP_GET, API_M "/tree/{rev}", h_tree_model, NULL},
    {HTTP_GET, API_D "/tree/{rev}", h_tree_dataset, NULL},
    {HTTP_GET, API_M "/tree/{rev}/{path*}", h_tree_model, NULL},
    {HTTP_GET, API_D "/tree/{rev}/{path*}", h_tree_dataset, NULL},
    {HTTP_POST, API_M "/paths-info/{rev}", h_paths_info_model, NULL},
    {HTTP_POST, API_D "/paths-info/{rev}", h_paths_info_dataset, NULL},
    {HTTP_GET, "/datasets/{org}/{name}/resolve/{rev}/{path*}",
     h_resolve_dataset, NULL},
    {HTTP_GET, "/datasets/{org}/{name}/raw/{rev}/{path*}", h_resolve_dataset,
     NULL},
    {HTTP_GET, "/{org}/{name}/resolve/{rev}/{path*}", h_resolve_model, NULL},
    {HTTP_GET, "/{org}/{name}/raw/{rev}/{path*}", h_resolve_model, NULL},
    {0, NULL, NULL, NULL},
};
