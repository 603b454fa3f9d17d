/*
 * routes_hf_upload.c - the Hugging Face Hub API, upload side:
 * preupload (which files go inline, which through LFS), the Git LFS batch
 * endpoint, the signed PUT it hands out, verify, and the NDJSON commit.
 *
 * Bytes always take the native pipeline: an LFS PUT and every inline file
 * of a commit stream into a spool file, become an object (a file version
 * with its compression job) and are then named by a commit.  The commit is
 * one transaction (store_hf_commit): an lfsFile whose object never arrived
 * fails it whole.  The commit body streams too, line by line, so a commit
 * of many inline files is never held in memory at once.
 */
#include "hf.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth.h"
#include "hf_commit.h"
#include "hf_common.h"
#include "hf_json.h"
#include "vec.h"

#define INLINE_MAX (1u << 20)        /* preupload: larger files go by LFS */
#define UPLOAD_TTL_S (24 * 3600)     /* signed PUT URLs */
#define COMMIT_OPS_MAX 100000
#define LFS_CT "application/vnd.git-lfs+json"

#define HF_BOTH(fn)                                                            \
    static void fn##_model(http_req *req) { fn(req, "model"); }                \
    static void fn##_dataset(http_req *req) { fn(req, "dataset"); }

/* ---- preupload ---------------------------------------------------------------- */

static int by_path(const void *key, const void *item)
{
    return strcmp(key, ((const hf_file *)item)->path);
}

static json_t *preupload_entry(const hf_file_list *files, json_t *f)
{
    const char *path = json_string_value(json_object_get(f, "path"));
    json_int_t size = json_integer_value(json_object_get(f, "size"));
    if (!path)
        return NULL;
    int lfs = size > (json_int_t)INLINE_MAX;
    json_t *e = json_pack("{s:s, s:s, s:b}", "path", path, "uploadMode",
                          lfs ? "lfs" : "regular", "shouldIgnore", 0);
    const hf_file *have =
        files->n ? bsearch(path, files->items, files->n, sizeof *files->items,
                           by_path)
                 : NULL;
    /* the client skips a file whose oid matches its own */
    if (e && have && lfs && !have->git_sha1[0])
        json_object_set_new(e, "oid", json_string(have->sha256));
    else if (e && have && !lfs && have->git_sha1[0])
        json_object_set_new(e, "oid", json_string(have->git_sha1));
    return e;
}

static void h_preupload(http_req *req, const char *type)
{
    hf_repo r;
    hf_rev rev;
    hf_file_list files = {0};
    es_err e = {0};
    json_t *body, *list, *f;
    size_t i;
    if (hf_open_repo_write(req, type, &r) < 0 || !(body = hf_body_json(req)))
        return;
    list = json_object_get(body, "files");
    if (!json_is_array(list)) {
        http_respond_error(req, 400, "\"files\" must be an array");
    } else if (store_hf_resolve(http_app(req), &r, http_param(req, "rev"),
                                &rev, &e) < 0 ||
               store_hf_files(http_app(req), rev.commit, &files, &e) < 0) {
        hf_fail_err(req, &e, HF_REVISION_NOT_FOUND);
    } else {
        json_t *out = json_array();
        json_array_foreach(list, i, f)
        {
            json_t *entry = preupload_entry(&files, f);
            if (entry)
                json_array_append_new(out, entry);
        }
        http_respond_json(req, 200, json_pack("{s:o}", "files", out));
        hf_file_list_free(&files);
    }
    json_decref(body);
}
HF_BOTH(h_preupload)

/* ---- LFS batch ------------------------------------------------------------------ */

static json_t *upload_actions(const char *base, const hf_repo *r,
                              const char *oid, uint64_t size)
{
    char sig[65], href[2048], verify[1400];
    int64_t expires = (int64_t)time(NULL) + UPLOAD_TTL_S;
    auth_sign_upload(r->name, oid, size, expires, sig);
    snprintf(href, sizeof href,
             "%s/hf-lfs/upload/%s/%s/%" PRIu64 "/%" PRId64 "/%s", base,
             r->name, oid, size, expires, sig);
    snprintf(verify, sizeof verify, "%s/hf-lfs/verify/%s", base, r->name);
    return json_pack("{s:{s:s, s:i}, s:{s:s}}", "upload", "href", href,
                     "expires_in", UPLOAD_TTL_S, "verify", "href", verify);
}

static json_t *lfs_error(json_t *obj, int code, const char *msg)
{
    json_t *out = json_deep_copy(obj);
    json_object_set_new(out, "error",
                        json_pack("{s:i, s:s}", "code", code, "message", msg));
    return out;
}

/* One object of the request: no actions if we have it. */
static json_t *batch_object(http_req *req, const char *base, const hf_repo *r,
                            json_t *obj)
{
    const char *oid = json_string_value(json_object_get(obj, "oid"));
    json_t *jsize = json_object_get(obj, "size");
    int64_t file_id;
    es_err e = {0};
    if (!hf_is_sha256_hex(oid) || !json_is_integer(jsize) ||
        json_integer_value(jsize) < 0)
        return lfs_error(obj, 422, "oid must be a sha256 (64 lowercase hex "
                                   "digits) and size a count");
    uint64_t size = (uint64_t)json_integer_value(jsize);
    int have = store_hf_object_find(http_app(req), r, oid, size, &file_id, &e);
    if (have < 0)
        return lfs_error(obj, 500, e.msg);
    json_t *out = json_pack("{s:s, s:I}", "oid", oid, "size",
                            (json_int_t)size);
    if (!have)
        json_object_set_new(out, "actions",
                            upload_actions(base, r, oid, size));
    return out;
}

static void h_lfs_batch(http_req *req, const char *type)
{
    hf_repo r;
    char base[1024];
    json_t *body, *objs, *o;
    size_t i;
    if (hf_open_repo_write(req, type, &r) < 0 || !(body = hf_body_json(req)))
        return;
    const char *op = json_string_value(json_object_get(body, "operation"));
    objs = json_object_get(body, "objects");
    if (!op || strcmp(op, "upload") != 0 || !json_is_array(objs)) {
        http_respond_error(req, 400, "only {\"operation\":\"upload\", "
                                     "\"objects\":[...]} is supported "
                                     "(download through /resolve/)");
    } else if (hf_base(req, base, sizeof base) == 0) {
        json_t *out = json_array();
        json_array_foreach(objs, i, o)
            json_array_append_new(out, batch_object(req, base, &r, o));
        struct MHD_Response *resp = http_json_response(req, json_pack(
            "{s:s, s:o, s:s}", "transfer", "basic", "objects", out,
            "hash_algo", "sha256"));
        if (resp)
            MHD_add_response_header(resp, "Content-Type", LFS_CT);
        http_respond(req, 200, resp);
    }
    json_decref(body);
}
HF_BOTH(h_lfs_batch)

/* ---- the signed PUT and verify --------------------------------------------------- */

typedef struct lfs_put {
    hf_repo repo;
    store_spool *sp;
    char oid[65];
    uint64_t size, got;
} lfs_put;

static void lfs_put_free(void *state, int completed)
{
    lfs_put *u = state;
    store_spool_abort(u->sp);
    free(u);
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!s || s[0] < '0' || s[0] > '9')
        return -1;
    *out = strtoull(s, &end, 10);
    return *end ? -1 : 0;
}

/* Checks the capability in the URL before any byte is accepted. */
static void lfs_put_begin(http_req *req)
{
    lfs_put *u = calloc(1, sizeof *u);
    char name[HF_NAME_MAX];
    uint64_t expires;
    es_err e = {0};
    const char *oid = http_param(req, "oid"), *sig = http_param(req, "sig");
    if (!u) {
        http_respond_error(req, 500, "out of memory");
        return;
    }
    http_set_state(req, u, lfs_put_free);
    http_repo_name(name, sizeof name, http_param(req, "org"),
                   http_param(req, "name"), 0);
    if (!hf_is_sha256_hex(oid) || parse_u64(http_param(req, "size"), &u->size) ||
        parse_u64(http_param(req, "exp"), &expires) ||
        !auth_upload_ok(name, oid, u->size, (int64_t)expires, sig)) {
        http_respond_error(req, 403, "upload URL invalid or expired: ask the "
                                     "LFS batch endpoint for a new one");
        return;
    }
    memcpy(u->oid, oid, 65);
    if (store_hf_repo(http_app(req), name, &u->repo, &e) < 0 ||
        store_spool_begin(http_app(req), &u->sp, &e) < 0)
        hf_fail_err(req, &e, HF_REPO_NOT_FOUND);
}

static void lfs_put_data(http_req *req, const char *data, size_t len)
{
    lfs_put *u = http_state(req);
    es_err e = {0};
    u->got += len;
    if (u->got > u->size)
        http_fail(req, 400, "more bytes than the %" PRIu64 " declared",
                  u->size);
    else if (store_spool_write(u->sp, data, len, &e) < 0)
        http_fail_err(req, &e);
}

static void h_lfs_put(http_req *req)
{
    lfs_put *u = http_state(req);
    int64_t file_id;
    es_err e = {0};
    store_spool *sp = u->sp;
    u->sp = NULL; /* consumed below */
    if (store_hf_object_put(http_app(req), &u->repo, sp, u->oid,
                            (int64_t)u->size, NULL, &file_id, NULL, &e) < 0)
        hf_fail_err(req, &e, NULL);
    else
        http_respond_json(req, 200, json_pack("{s:s}", "oid", u->oid));
}

static const http_body_sink lfs_put_sink = {lfs_put_begin, lfs_put_data};

static void h_lfs_verify(http_req *req)
{
    hf_repo r;
    json_t *body;
    int64_t file_id;
    es_err e = {0};
    /* the repo's type does not matter here: the URL is ours */
    if (auth_check_write(req, &e) < 0) {
        hf_fail_err(req, &e, NULL);
        return;
    }
    if (!(body = hf_body_json(req)))
        return;
    char name[HF_NAME_MAX];
    http_repo_name(name, sizeof name, http_param(req, "org"),
                   http_param(req, "name"), 0);
    const char *oid = json_string_value(json_object_get(body, "oid"));
    json_int_t size = json_integer_value(json_object_get(body, "size"));
    int have = 0;
    if (store_hf_repo(http_app(req), name, &r, &e) < 0 ||
        (hf_is_sha256_hex(oid) &&
         (have = store_hf_object_find(http_app(req), &r, oid, (uint64_t)size,
                                      &file_id, &e)) < 0))
        hf_fail_err(req, &e, HF_REPO_NOT_FOUND);
    else if (!have)
        http_respond_error(req, 404, "object %.64s (%lld bytes) not uploaded",
                           oid ? oid : "", (long long)size);
    else
        http_respond_json(req, 200, json_pack("{s:s}", "oid", oid));
    json_decref(body);
}

/* ---- commit (NDJSON, streamed) ---------------------------------------------------- */

typedef struct commit_req {
    http_req *req;
    hf_repo repo;
    const char *type;
    hf_ndjson body;
    vec ops; /* of hf_op, their paths owned */
    char *summary, *description, *parent;
    unsigned fail_status; /* the first error, answered at the end */
    char fail_msg[400];
} commit_req;

static void cfail(commit_req *c, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Remembers the first error: http.c answers it if the body is still
 * arriving, h_commit if it was the last line. */
static void cfail(commit_req *c, unsigned status, const char *fmt, ...)
{
    va_list ap;
    if (c->fail_status)
        return;
    va_start(ap, fmt);
    vsnprintf(c->fail_msg, sizeof c->fail_msg, fmt, ap);
    va_end(ap);
    c->fail_status = status;
    http_fail(c->req, status, "%s", c->fail_msg);
}

static void cfail_err(commit_req *c, const es_err *e)
{
    cfail(c, http_err_status(e), "%s", e->msg);
}

static void commit_free(void *state, int completed)
{
    commit_req *c = state;
    for (size_t i = 0; i < c->ops.n; i++)
        free(VEC_AT(&c->ops, hf_op, i).path);
    vec_free(&c->ops);
    hf_ndjson_free(&c->body);
    free(c->summary);
    free(c->description);
    free(c->parent);
    free(c);
}

static hf_op *new_op(commit_req *c, hf_op_kind kind, const char *path)
{
    hf_op *op = c->ops.n < COMMIT_OPS_MAX ? vec_grow(&c->ops) : NULL;
    if (!op) {
        cfail(c, 413, "too many operations in one commit");
        return NULL;
    }
    op->kind = kind;
    op->path = strdup(path);
    if (!op->path) {
        c->ops.n--; /* not an op after all */
        cfail(c, 500, "out of memory");
        return NULL;
    }
    return op;
}

/* An inline file: its bytes become an object, the op names it. */
static void add_inline(commit_req *c, const hf_line *l)
{
    char blob[41];
    store_spool *sp = NULL;
    es_err e = {0};
    hf_op *op = new_op(c, HF_OP_PUT, l->path);
    if (!op)
        return;
    hf_git_blob_sha1(l->content, l->content_len, blob);
    if (store_spool_begin(http_app(c->req), &sp, &e) < 0 ||
        store_spool_write(sp, l->content, l->content_len, &e) < 0) {
        store_spool_abort(sp);
        cfail_err(c, &e);
    } else if (store_hf_object_put(http_app(c->req), &c->repo, sp, NULL, -1,
                                   blob, &op->file_id, NULL, &e) < 0) {
        cfail_err(c, &e);
    }
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* One line of the body (hf_commit.h parses it); returns 1 to stop. */
static int commit_line(void *ctx, const char *line, size_t len)
{
    commit_req *c = ctx;
    if (http_failed(c->req))
        return 1;
    hf_line l;
    es_err e = {0};
    hf_op *op;
    if (hf_line_parse(line, len, &l, &e) < 0) {
        cfail_err(c, &e);
    } else if (l.kind == HF_LINE_HEADER) {
        c->summary = dup_or_null(l.summary);
        c->description = dup_or_null(l.description);
        c->parent = dup_or_null(l.parent);
    } else if (l.kind == HF_LINE_FILE) {
        add_inline(c, &l);
    } else if (l.kind == HF_LINE_LFS) {
        if ((op = new_op(c, HF_OP_PUT_LFS, l.path)) != NULL) {
            memcpy(op->sha256, l.oid, 65);
            op->size = l.has_size ? l.size : HF_SIZE_ANY;
        }
    } else if (l.kind == HF_LINE_DELETE_FILE) {
        new_op(c, HF_OP_DELETE_FILE, l.path);
    } else if (l.kind == HF_LINE_DELETE_FOLDER) {
        new_op(c, HF_OP_DELETE_FOLDER, l.path);
    }
    hf_line_free(&l);
    return 0;
}

static void commit_begin(http_req *req, const char *type)
{
    commit_req *c = calloc(1, sizeof *c);
    if (!c) {
        http_respond_error(req, 500, "out of memory");
        return;
    }
    c->req = req;
    c->type = type;
    c->ops = VEC_INIT(hf_op);
    http_set_state(req, c, commit_free);
    const char *pr = http_arg(req, "create_pr");
    if (hf_open_repo_write(req, type, &c->repo) == 0 && pr &&
        strcmp(pr, "0") != 0 && strcasecmp(pr, "false") != 0)
        http_respond_error(req, 400, "pull requests are not supported");
}

static void commit_begin_model(http_req *req) { commit_begin(req, "model"); }
static void commit_begin_dataset(http_req *req)
{
    commit_begin(req, "dataset");
}

/* Buffers the body and handles every complete line. */
static void commit_data(http_req *req, const char *data, size_t len)
{
    commit_req *c = http_state(req);
    es_err e = {0};
    if (hf_ndjson_feed(&c->body, data, len, commit_line, c, &e) < 0)
        cfail_err(c, &e);
}

static void commit_message(const commit_req *c, char *out, size_t cap)
{
    const char *summary = c->summary && *c->summary ? c->summary : "Upload";
    if (c->description && *c->description)
        snprintf(out, cap, "%s\n\n%s", summary, c->description);
    else
        snprintf(out, cap, "%s", summary);
}

static void h_commit(http_req *req)
{
    commit_req *c = http_state(req);
    char commit[41], base[1024], url[1600], message[4096];
    es_err e = {0};
    hf_ndjson_finish(&c->body, commit_line, c); /* JS sends no final newline */
    if (c->fail_status) {
        hf_fail(req, c->fail_status, NULL, NULL, "%s", c->fail_msg);
        return;
    }
    if (hf_base(req, base, sizeof base) < 0)
        return;
    commit_message(c, message, sizeof message);
    if (store_hf_commit(http_app(req), &c->repo, http_param(req, "rev"),
                        c->parent, message, c->ops.items, c->ops.n, commit,
                        &e) < 0) {
        hf_fail_err(req, &e, HF_REVISION_NOT_FOUND);
        return;
    }
    snprintf(url, sizeof url, "%s/%s%s/commit/%s", base,
             hf_url_prefix(c->type), c->repo.name, commit);
    http_respond_json(req, 200,
                      json_pack("{s:s, s:s, s:s, s:s, s:b, s:n}", "commitUrl",
                                url, "commitOid", commit, "commitMessage",
                                message, "hookOutput", "", "success", 1,
                                "pullRequestUrl"));
}

static const http_body_sink commit_sink_model = {commit_begin_model,
                                                 commit_data};
static const http_body_sink commit_sink_dataset = {commit_begin_dataset,
                                                   commit_data};

/* ---- the table ------------------------------------------------------------------ */

#define API_M "/api/models/{org}/{name}"
#define API_D "/api/datasets/{org}/{name}"
#define LFS_BATCH "/info/lfs/objects/batch"

const http_route routes_hf_upload[] = {
    {HTTP_POST, API_M "/preupload/{rev}", h_preupload_model, NULL},
    {HTTP_POST, API_D "/preupload/{rev}", h_preupload_dataset, NULL},
    {HTTP_POST, API_M "/commit/{rev}", h_commit, &commit_sink_model},
    {HTTP_POST, API_D "/commit/{rev}", h_commit, &commit_sink_dataset},
    {HTTP_POST, "/datasets/{org}/{name}" LFS_BATCH, h_lfs_batch_dataset, NULL},
    {HTTP_POST, "/{org}/{name}" LFS_BATCH, h_lfs_batch_model, NULL},
    {HTTP_PUT, "/hf-lfs/upload/{org}/{name}/{oid}/{size}/{exp}/{sig}",
     h_lfs_put, &lfs_put_sink},
    {HTTP_POST, "/hf-lfs/verify/{org}/{name}", h_lfs_verify, NULL},
    {0, NULL, NULL, NULL},
};
