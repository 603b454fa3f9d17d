/*
 * hf_common.c - what the Hugging Face route files and the mirror share:
 * error answers the clients understand, repo lookup with its access
 * check, the request body as JSON, and URL parts (hf_common.h).
 */
#include "hf_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"

/* The answer itself: body {"error": msg} plus the keys of extra (stolen,
 * may be NULL), X-Error-Message, X-Error-Code and X-Repo-Commit. */
static void fail_answer(http_req *req, unsigned status, const char *code,
                        const char *commit, json_t *extra, char *msg)
{
    for (char *p = msg; *p; p++) /* a header value: no control bytes */
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    json_t *msg_json = extra ? json_string(msg) : NULL;
    struct MHD_Response *r;
    if (msg_json && json_object_set_new(extra, "error", msg_json) == 0) {
        r = http_json_response(req, extra);
    } else {
        json_decref(extra);
        r = http_error_response(req, msg);
    }
    if (r) {
        MHD_add_response_header(r, "X-Error-Message", msg);
        if (code)
            MHD_add_response_header(r, "X-Error-Code", code);
        if (commit)
            MHD_add_response_header(r, "X-Repo-Commit", commit);
    }
    http_respond(req, status, r);
}

static void fail_v(http_req *req, unsigned status, const char *code,
                   const char *commit, json_t *extra, const char *fmt,
                   va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    fail_answer(req, status, code, commit, extra, msg);
}

void hf_fail(http_req *req, unsigned status, const char *code,
             const char *commit, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_v(req, status, code, commit, NULL, fmt, ap);
    va_end(ap);
}

void hf_fail_with(http_req *req, unsigned status, json_t *extra,
                  const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_v(req, status, NULL, NULL, extra, fmt, ap);
    va_end(ap);
}

void hf_fail_err(http_req *req, const es_err *e, const char *code)
{
    unsigned status = http_err_status(e);
    hf_fail(req, status, status == 404 ? code : NULL, NULL, "%s",
            e->msg[0] ? e->msg : "internal error");
}

const char *hf_api_kind(const char *type)
{
    return strcmp(type, "dataset") == 0 ? "datasets" : "models";
}

const char *hf_url_prefix(const char *type)
{
    return strcmp(type, "dataset") == 0 ? "datasets/" : "";
}

int hf_base(http_req *req, char *out, size_t cap)
{
    if (http_public_base(req, out, cap) == 0)
        return 0;
    http_respond_error(req, 500, "public URL too long");
    return -1;
}

int hf_repo_name(http_req *req, char out[HF_NAME_MAX])
{
    return http_repo_name(out, HF_NAME_MAX, http_param(req, "org"),
                          http_param(req, "name"), 1);
}

int hf_find_repo(http_req *req, const char *name, const char *type,
                 hf_repo *out)
{
    es_err e = {0};
    if (!name || store_hf_repo(http_app(req), name, out, &e) < 0 ||
        strcmp(out->type, type) != 0) {
        if (e.status && e.status != 404)
            hf_fail_err(req, &e, NULL);
        else
            hf_fail(req, 404, HF_REPO_NOT_FOUND, NULL,
                    "Repository not found");
        return -1;
    }
    return 0;
}

int hf_open_repo(http_req *req, const char *type, hf_repo *out)
{
    char name[HF_NAME_MAX];
    es_err e = {0};
    if (hf_find_repo(req, hf_repo_name(req, name) == 0 ? name : NULL, type,
                     out) < 0)
        return -1;
    if (auth_check_read(req, out, &e) < 0) {
        hf_fail(req, 401, HF_REPO_NOT_FOUND, NULL, "%s", e.msg);
        return -1;
    }
    return 0;
}

int hf_open_repo_write(http_req *req, const char *type, hf_repo *out)
{
    es_err e = {0};
    if (auth_check_write(req, &e) < 0) {
        hf_fail_err(req, &e, NULL);
        return -1;
    }
    return hf_open_repo(req, type, out);
}

int hf_check_gated(http_req *req, const hf_repo *r)
{
    hf_token t;
    es_err e = {0};
    if (strcmp(r->gated, "auto") != 0 && strcmp(r->gated, "manual") != 0)
        return 0;
    if (auth_token(req, &t, &e) == 1)
        return 0;
    hf_fail(req, 401, HF_GATED_REPO, NULL,
            "Access to %s %s is restricted. You must have access to it and "
            "be authenticated to access it. Please log in.",
            r->type, r->name);
    return -1;
}

int hf_body_repo_name(json_t *body, char out[HF_NAME_MAX])
{
    const char *name = json_string_value(json_object_get(body, "name"));
    const char *org =
        json_string_value(json_object_get(body, "organization"));
    if (!name)
        return -1;
    if (strchr(name, '/'))
        snprintf(out, HF_NAME_MAX, "%s", name);
    else if (org)
        snprintf(out, HF_NAME_MAX, "%s/%s", org, name);
    else
        return -1;
    return store_repo_name_valid(out) ? 0 : -1;
}

int hf_arg_true(http_req *req, const char *name)
{
    const char *v = http_arg(req, name);
    return v && (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

int hf_parse_count(const char *s, size_t def, size_t max, size_t *out)
{
    char *end;
    if (!s) {
        *out = def;
        return 0;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end || v > max)
        return -1;
    *out = (size_t)v;
    return 0;
}

json_t *hf_body_json_opt(http_req *req)
{
    size_t len;
    http_body(req, &len);
    return len ? hf_body_json(req) : json_object();
}

json_t *hf_body_json(http_req *req)
{
    size_t len;
    const char *body = http_body(req, &len);
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    if (!json_is_object(root)) {
        http_respond_error(req, 400, "body must be a JSON object%s%s",
                           root ? "" : ": ", root ? "" : jerr.text);
        json_decref(root);
        return NULL;
    }
    return root;
}
