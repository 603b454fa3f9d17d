/*
 * routes_hf_repo.c - the Hub API's repository management, as
 * huggingface_hub (hf_api.py) and @huggingface/hub call it: listing models
 * and datasets, branches and tags, refs and commit history, settings,
 * move and delete, super-squash and auth-check; and, last in the route
 * tables, the Hub's own error shape for the Hub routes elvesd does not
 * implement (api.md lists them).
 *
 * Writes need a write token (hf_open_repo_write); private repos stay
 * hidden without a token, as everywhere in hf/.  Answers the clients do
 * not read are {}.
 */
#include "hf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "hf_common.h"
#include "hf_json.h"

#define LIST_PAGE_DEFAULT 1000
#define LIST_PAGE_MAX 10000
#define COMMITS_PAGE_DEFAULT 50
#define COMMITS_PAGE_MAX 1000

#define HF_BOTH(fn)                                                            \
    static void fn##_model(http_req *req)                                      \
    {                                                                          \
        fn(req, "model");                                                      \
    }                                                                          \
    static void fn##_dataset(http_req *req)                                    \
    {                                                                          \
        fn(req, "dataset");                                                    \
    }

static void answer_ok(http_req *req)
{
    http_respond_json(req, 200, json_object());
}

/* {} after a store call that returned rc, else its error (code for a
 * 404). */
static void answer(http_req *req, int rc, const es_err *e, const char *code)
{
    if (rc < 0)
        hf_fail_err(req, e, code);
    else
        answer_ok(req);
}

/* A write route's repo and JSON body (optional: an empty body is {});
 * NULL once it has answered an error. */
static json_t *open_write_body(http_req *req, const char *type, hf_repo *r,
                               int optional)
{
    if (hf_open_repo_write(req, type, r) < 0)
        return NULL;
    return optional ? hf_body_json_opt(req) : hf_body_json(req);
}

/* ---- query strings for Link: <...>; rel="next" --------------------------- */

typedef struct query {
    char buf[4096];
    size_t len;
} query;

/* Adds name=value (value percent-encoded) if value is not NULL. */
static void query_add(query *q, const char *name, const char *value)
{
    char enc[1500];
    if (!value || q->len >= sizeof q->buf)
        return;
    http_pct_encode(enc, sizeof enc, value, 0);
    int n = snprintf(q->buf + q->len, sizeof q->buf - q->len, "%s%s=%s",
                     q->len ? "&" : "", name, enc);
    if (n > 0)
        q->len += (size_t)n;
}

/* Link: <base + path ? query>; rel="next" on resp. */
static void next_link(http_req *req, struct MHD_Response *resp,
                      const char *path, const query *q)
{
    char base[1024], link[6200];
    if (!resp || http_public_base(req, base, sizeof base) < 0)
        return;
    snprintf(link, sizeof link, "<%s%s?%s>; rel=\"next\"", base, path, q->buf);
    MHD_add_response_header(resp, "Link", link);
}

/* ---- GET /api/models, /api/datasets -------------------------------------- */

typedef struct list_walk {
    const char *type;
    int may_read_private;
    const char *search, *author, *filter;
    json_t *all;
} list_walk;

/* Case-insensitive substring. */
static int contains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return 1;
    return n == 0;
}

static int list_one(void *ctx, const hf_repo *r, const hf_rev *main)
{
    list_walk *w = ctx;
    size_t ns = strcspn(r->name, "/");
    if (strcmp(r->type, w->type) != 0 ||
        (r->is_private && !w->may_read_private) ||
        (w->search && !contains(r->name, w->search)) ||
        (w->author &&
         (strlen(w->author) != ns || strncasecmp(r->name, w->author, ns) != 0)))
        return 0;
    json_t *e = hf_repo_summary(r, main);
    if (!e)
        return -1;
    /* filter=TAG: the Hub's tag filter; no tags are recorded here */
    if (w->filter && *w->filter) {
        json_decref(e);
        return 0;
    }
    return json_array_append_new(w->all, e) < 0 ? -1 : 0;
}

static const char *entry_key(json_t *e, const char *key)
{
    const char *v = json_string_value(json_object_get(e, key));
    return v ? v : "";
}

/* The sort key of qsort_r-less sorting: set before qsort, read by it. */
static _Thread_local const char *sort_key;
static _Thread_local int sort_desc;

static int by_sort_key(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int c = strcmp(entry_key(x, sort_key), entry_key(y, sort_key));
    if (c == 0) /* ties (every count is 0 here) in id order */
        return strcmp(entry_key(x, "id"), entry_key(y, "id"));
    return sort_desc ? -c : c;
}

/* Sorts by the Hub's sort names; counts (downloads, likes, trending)
 * are all 0 here, so those keep id order.  Dates sort newest first
 * unless direction=1, as on the Hub. */
static int sort_list(json_t *all, const char *sort, const char *direction)
{
    const char *key = "id";
    int desc = 0;
    if (sort &&
        (strcmp(sort, "lastModified") == 0 || strcmp(sort, "createdAt") == 0)) {
        key = sort;
        desc = !(direction && strcmp(direction, "1") == 0);
    } else if (sort && strcmp(sort, "id") != 0 &&
               strcmp(sort, "downloads") != 0 && strcmp(sort, "likes") != 0 &&
               strcmp(sort, "trendingScore") != 0 &&
               strcmp(sort, "likes30d") != 0) {
        return -1;
    }
    size_t n = json_array_size(all);
    json_t **items = malloc((n ? n : 1) * sizeof *items);
    if (!items)
        return -1;
    for (size_t i = 0; i < n; i++)
        items[i] = json_incref(json_array_get(all, i));
    sort_key = key;
    sort_desc = desc;
    qsort(items, n, sizeof *items, by_sort_key);
    json_array_clear(all);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(all, items[i]);
    free(items);
    return 0;
}

static void h_list(http_req *req, const char *type)
{
    size_t limit, cursor;
    hf_token t;
    es_err e = {0};
    int has = auth_token(req, &t, &e);
    list_walk w = {type,
                   has == 1,
                   http_arg(req, "search"),
                   http_arg(req, "author"),
                   http_arg(req, "filter"),
                   NULL};
    if (has < 0) {
        hf_fail_err(req, &e, NULL);
        return;
    }
    if (hf_parse_count(http_arg(req, "limit"), LIST_PAGE_DEFAULT, LIST_PAGE_MAX,
                       &limit) < 0 ||
        limit == 0 ||
        hf_parse_count(http_arg(req, "cursor"), 0, SIZE_MAX / 2, &cursor) < 0) {
        hf_fail(req, 400, NULL, NULL, "limit and cursor must be numbers");
        return;
    }
    w.all = json_array();
    if (store_hf_repo_each(http_app(req), list_one, &w, &e) != 0) {
        json_decref(w.all);
        hf_fail_err(req, &e, NULL);
        return;
    }
    if (sort_list(w.all, http_arg(req, "sort"), http_arg(req, "direction")) <
        0) {
        json_decref(w.all);
        hf_fail(req, 400, NULL, NULL, "unknown sort '%.60s'",
                http_arg(req, "sort"));
        return;
    }
    json_t *page = json_array();
    for (size_t i = cursor; i < json_array_size(w.all) && i < cursor + limit;
         i++)
        json_array_append(page, json_array_get(w.all, i));
    struct MHD_Response *resp = http_json_response(req, page);
    if (cursor + limit < json_array_size(w.all)) {
        query q = {"", 0};
        char n[32], c[32], path[32];
        snprintf(n, sizeof n, "%zu", limit);
        snprintf(c, sizeof c, "%zu", cursor + limit);
        snprintf(path, sizeof path, "/api/%s", hf_api_kind(type));
        query_add(&q, "search", w.search);
        query_add(&q, "author", w.author);
        query_add(&q, "filter", w.filter);
        query_add(&q, "sort", http_arg(req, "sort"));
        query_add(&q, "direction", http_arg(req, "direction"));
        query_add(&q, "limit", n);
        query_add(&q, "cursor", c);
        next_link(req, resp, path, &q);
    }
    json_decref(w.all);
    http_respond(req, 200, resp);
}
HF_BOTH(h_list)

/* ---- branches and tags --------------------------------------------------- */

/* POST .../branch/{branch} {"startingPoint"?, "emptyBranch"?, "overwrite"?} */
static void h_branch_create(http_req *req, const char *type)
{
    hf_repo r;
    es_err e = {0};
    json_t *body = open_write_body(req, type, &r, 1);
    if (!body)
        return;
    const char *from =
        json_string_value(json_object_get(body, "startingPoint"));
    answer(req,
           store_hf_ref_create(
               http_app(req), &r, "branch", http_param(req, "branch"), from,
               json_is_true(json_object_get(body, "emptyBranch")),
               json_is_true(json_object_get(body, "overwrite")), &e),
           &e, HF_REVISION_NOT_FOUND);
    json_decref(body);
}
HF_BOTH(h_branch_create)

static void ref_delete(http_req *req, const char *type, const char *kind,
                       const char *param)
{
    hf_repo r;
    es_err e = {0};
    if (hf_open_repo_write(req, type, &r) < 0)
        return;
    answer(req,
           store_hf_ref_delete(http_app(req), &r, kind, http_param(req, param),
                               &e),
           &e, HF_REVISION_NOT_FOUND);
}

static void h_branch_delete(http_req *req, const char *type)
{
    ref_delete(req, type, "branch", "branch");
}
HF_BOTH(h_branch_delete)

/* POST .../tag/{rev} {"tag", "message"?}: the tag points at rev. */
static void h_tag_create(http_req *req, const char *type)
{
    hf_repo r;
    es_err e = {0};
    json_t *body = open_write_body(req, type, &r, 0);
    if (!body)
        return;
    const char *tag = json_string_value(json_object_get(body, "tag"));
    if (!tag)
        hf_fail(req, 400, NULL, NULL, "the body needs {\"tag\": NAME}");
    else
        answer(req,
               store_hf_ref_create(http_app(req), &r, "tag", tag,
                                   http_param(req, "rev"), 0, 0, &e),
               &e, HF_REVISION_NOT_FOUND);
    json_decref(body);
}
HF_BOTH(h_tag_create)

static void h_tag_delete(http_req *req, const char *type)
{
    ref_delete(req, type, "tag", "rev");
}
HF_BOTH(h_tag_delete)

/* ---- refs and history ---------------------------------------------------- */

typedef struct ref_walk {
    json_t *list;
    const char *prefix; /* "refs/heads/" or "refs/tags/" */
} ref_walk;

static int add_ref(void *ctx, const char *name, const char *commit)
{
    ref_walk *w = ctx;
    char ref[300];
    snprintf(ref, sizeof ref, "%s%s", w->prefix, name);
    return json_array_append_new(w->list,
                                 json_pack("{s:s, s:s, s:s}", "name", name,
                                           "ref", ref, "targetCommit", commit));
}

/* {"branches": [{name, ref, targetCommit}], "converts": [], "tags": [...],
 * "pullRequests": []} */
static void h_refs(http_req *req, const char *type)
{
    hf_repo r;
    es_err e = {0};
    ref_walk branches = {json_array(), "refs/heads/"};
    ref_walk tags = {json_array(), "refs/tags/"};
    if (hf_open_repo(req, type, &r) == 0) {
        if (store_hf_refs(http_app(req), &r, "branch", add_ref, &branches, &e) <
                0 ||
            store_hf_refs(http_app(req), &r, "tag", add_ref, &tags, &e) < 0)
            hf_fail_err(req, &e, NULL);
        else
            http_respond_json(req, 200,
                              json_pack("{s:O, s:[], s:O, s:[]}", "branches",
                                        branches.list, "converts", "tags",
                                        tags.list, "pullRequests"));
    }
    json_decref(branches.list);
    json_decref(tags.list);
}
HF_BOTH(h_refs)

static int add_commit(void *ctx, const hf_commit *c)
{
    return json_array_append_new(ctx, hf_commit_entry(c));
}

/* GET .../commits/{rev}?limit=N&p=PAGE: newest first, X-Total-Count. */
static void h_commits(http_req *req, const char *type)
{
    hf_repo r;
    es_err e = {0};
    size_t limit, page, total;
    if (hf_parse_count(http_arg(req, "limit"), COMMITS_PAGE_DEFAULT,
                       COMMITS_PAGE_MAX, &limit) < 0 ||
        limit == 0 ||
        hf_parse_count(http_arg(req, "p"), 0, HF_HISTORY_MAX, &page) < 0) {
        hf_fail(req, 400, NULL, NULL, "limit and p must be numbers");
        return;
    }
    if (hf_open_repo(req, type, &r) < 0)
        return;
    json_t *list = json_array();
    const char *rev = http_param(req, "rev");
    if (store_hf_history(http_app(req), &r, rev, page * limit, limit,
                         add_commit, list, &total, &e) < 0) {
        json_decref(list);
        hf_fail_err(req, &e, HF_REVISION_NOT_FOUND);
        return;
    }
    struct MHD_Response *resp = http_json_response(req, list);
    char count[32], path[1200], revenc[800], n[32], p[32];
    snprintf(count, sizeof count, "%zu", total);
    if (resp)
        MHD_add_response_header(resp, "X-Total-Count", count);
    if ((page + 1) * limit < total) {
        query q = {"", 0};
        http_pct_encode(revenc, sizeof revenc, rev, 0);
        snprintf(path, sizeof path, "/api/%s/%s/commits/%s", hf_api_kind(type),
                 r.name, revenc);
        snprintf(n, sizeof n, "%zu", limit);
        snprintf(p, sizeof p, "%zu", page + 1);
        query_add(&q, "limit", n);
        query_add(&q, "p", p);
        next_link(req, resp, path, &q);
    }
    http_respond(req, 200, resp);
}
HF_BOTH(h_commits)

/* POST .../super-squash/{branch} {"message"} */
static void h_squash(http_req *req, const char *type)
{
    hf_repo r;
    es_err e = {0};
    char commit[41];
    json_t *body = open_write_body(req, type, &r, 1);
    if (!body)
        return;
    const char *msg = json_string_value(json_object_get(body, "message"));
    if (store_hf_squash(http_app(req), &r, http_param(req, "branch"),
                        msg && *msg ? msg : "Super-squash", commit, &e) < 0)
        hf_fail_err(req, &e, HF_REVISION_NOT_FOUND);
    else
        http_respond_json(req, 200, json_pack("{s:s}", "commitOid", commit));
    json_decref(body);
}
HF_BOTH(h_squash)

/* ---- settings, move, delete, auth-check ---------------------------------- */

/* PUT .../settings {"private"?: bool, "visibility"?: "private"|"public",
 * "gated"?: false|"auto"|"manual"} */
static void h_settings(http_req *req, const char *type)
{
    hf_repo r;
    es_err e = {0};
    json_t *body = open_write_body(req, type, &r, 0);
    if (!body)
        return;
    json_t *priv = json_object_get(body, "private");
    json_t *gated = json_object_get(body, "gated");
    const char *vis = json_string_value(json_object_get(body, "visibility"));
    int is_private = json_is_boolean(priv) ? json_is_true(priv) : -1;
    if (vis)
        is_private = strcmp(vis, "private") == 0  ? 1
                     : strcmp(vis, "public") == 0 ? 0
                                                  : -2;
    const char *g = json_is_false(gated) ? "false" : json_string_value(gated);
    if (is_private == -2 || (gated && !g) || (priv && !json_is_boolean(priv)))
        hf_fail(req, 400, NULL, NULL,
                "settings: private is a boolean, visibility \"public\" or "
                "\"private\", gated false, \"auto\" or \"manual\"");
    else
        answer(req, store_hf_settings(http_app(req), &r, is_private, g, &e), &e,
               HF_REPO_NOT_FOUND);
    json_decref(body);
}
HF_BOTH(h_settings)

/* The repo of a body's name and type ("model" when absent), for the
 * write routes under /api/repos/; answers the error itself. */
static int body_repo(http_req *req, json_t *body, const char *name,
                     hf_repo *out)
{
    const char *type = json_string_value(json_object_get(body, "type"));
    return hf_find_repo(req, name, type ? type : "model", out);
}

/* POST /api/repos/move {"fromRepo", "toRepo", "type"} */
static void h_move(http_req *req)
{
    hf_repo r;
    es_err e = {0};
    json_t *body;
    if (auth_check_write(req, &e) < 0) {
        hf_fail_err(req, &e, NULL);
        return;
    }
    if (!(body = hf_body_json(req)))
        return;
    const char *from = json_string_value(json_object_get(body, "fromRepo"));
    const char *to = json_string_value(json_object_get(body, "toRepo"));
    if (!from || !to)
        hf_fail(req, 400, NULL, NULL, "the body needs fromRepo and toRepo");
    else if (body_repo(req, body, from, &r) == 0) {
        answer(req, store_hf_repo_move(http_app(req), from, to, &e), &e,
               HF_REPO_NOT_FOUND);
    }
    json_decref(body);
}

/* DELETE /api/repos/delete {"name", "organization", "type"} */
static void h_delete(http_req *req)
{
    hf_repo r;
    es_err e = {0};
    char name[HF_NAME_MAX];
    json_t *body;
    if (auth_check_write(req, &e) < 0) {
        hf_fail_err(req, &e, NULL);
        return;
    }
    if (!(body = hf_body_json(req)))
        return;
    if (hf_body_repo_name(body, name) < 0)
        hf_fail(req, 400, NULL, NULL, "the body needs name (and organization)");
    else if (body_repo(req, body, name, &r) == 0) {
        answer(req, store_repo_delete(http_app(req), name, &e), &e,
               HF_REPO_NOT_FOUND);
    }
    json_decref(body);
}

/* GET .../auth-check[/write]: 200 if the request may read (or write) the
 * repo; else the error a download (or an upload) would get. */
static void auth_check(http_req *req, const char *type, int write)
{
    hf_repo r;
    if ((write ? hf_open_repo_write(req, type, &r)
               : hf_open_repo(req, type, &r)) < 0 ||
        hf_check_gated(req, &r) < 0)
        return;
    answer_ok(req);
}

static void h_auth_check_model(http_req *req)
{
    auth_check(req, "model", 0);
}
static void h_auth_check_dataset(http_req *req)
{
    auth_check(req, "dataset", 0);
}
static void h_auth_write_model(http_req *req)
{
    auth_check(req, "model", 1);
}
static void h_auth_write_dataset(http_req *req)
{
    auth_check(req, "dataset", 1);
}

/* ---- what is not implemented --------------------------------------------- */

/* The Hub's error shape ({"error"}, X-Error-Message, no X-Error-Code, so
 * clients raise a plain HfHubHTTPError and never mistake it for a missing
 * repo) for Hub API routes elvesd lacks: discussions and pull requests,
 * likes, collections, spaces, Xet tokens, ... (api.md lists them). */
static void h_not_implemented(http_req *req)
{
    hf_fail(req, 404, NULL, NULL,
            "Sorry, elvesd does not implement this Hub API route: %.300s",
            http_param(req, "rest"));
}

/* ---- the table ----------------------------------------------------------- */

#define API_M "/api/models/{org}/{name}"
#define API_D "/api/datasets/{org}/{name}"
#define ANY (HTTP_GET | HTTP_POST | HTTP_PUT | HTTP_DELETE | HTTP_PATCH)

const http_route routes_hf_repo[] = {
    {HTTP_GET, "/api/models", h_list_model, NULL},
    {HTTP_GET, "/api/datasets", h_list_dataset, NULL},
    {HTTP_POST, "/api/repos/move", h_move, NULL},
    {HTTP_DELETE, "/api/repos/delete", h_delete, NULL},
    {HTTP_POST, API_M "/branch/{branch}", h_branch_create_model, NULL},
    {HTTP_POST, API_D "/branch/{branch}", h_branch_create_dataset, NULL},
    {HTTP_DELETE, API_M "/branch/{branch}", h_branch_delete_model, NULL},
    {HTTP_DELETE, API_D "/branch/{branch}", h_branch_delete_dataset, NULL},
    {HTTP_POST, API_M "/tag/{rev}", h_tag_create_model, NULL},
    {HTTP_POST, API_D "/tag/{rev}", h_tag_create_dataset, NULL},
    {HTTP_DELETE, API_M "/tag/{rev}", h_tag_delete_model, NULL},
    {HTTP_DELETE, API_D "/tag/{rev}", h_tag_delete_dataset, NULL},
    {HTTP_GET, API_M "/refs", h_refs_model, NULL},
    {HTTP_GET, API_D "/refs", h_refs_dataset, NULL},
    {HTTP_GET, API_M "/commits/{rev}", h_commits_model, NULL},
    {HTTP_GET, API_D "/commits/{rev}", h_commits_dataset, NULL},
    {HTTP_POST, API_M "/super-squash/{branch}", h_squash_model, NULL},
    {HTTP_POST, API_D "/super-squash/{branch}", h_squash_dataset, NULL},
    {HTTP_PUT, API_M "/settings", h_settings_model, NULL},
    {HTTP_PUT, API_D "/settings", h_settings_dataset, NULL},
    {HTTP_GET, API_M "/auth-check", h_auth_check_model, NULL},
    {HTTP_GET, API_D "/auth-check", h_auth_check_dataset, NULL},
    {HTTP_GET, API_M "/auth-check/write", h_auth_write_model, NULL},
    {HTTP_GET, API_D "/auth-check/write", h_auth_write_dataset, NULL},
    /* last: whatever else under the Hub's API prefixes */
    {ANY, "/api/models/{rest*}", h_not_implemented, NULL},
    {ANY, "/api/datasets/{rest*}", h_not_implemented, NULL},
    {ANY, "/api/spaces/{rest*}", h_not_implemented, NULL},
    {ANY, "/api/repos/{rest*}", h_not_implemented, NULL},
    {ANY, "/api/collections/{rest*}", h_not_implemented, NULL},
    {0, NULL, NULL, NULL},
};
