/*
 * hf_common.c - what the Hugging Face route files and the mirror share:
 * error answers the clients understand, repo lookup with its access
 * check, the request body as JSON, and URL parts (hf_common.h).
 */
#include "hf_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"

void hf_fail(http_req *req, unsigned status, const char *code,
             const char *commit, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++) /* a header value: no control bytes */
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    struct MHD_Response *r = http_error_response(req, msg);
    if (r) {
        MHD_add_response_header(r, "X-Error-Message", msg);
        if (code)
            MHD_add_response_header(r, "X-Error-Code", code);
        if (commit)
            MHD_add_response_header(r, "X-Repo-Commit", commit);
    }
    http_respond(req, status, r);
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

int hf_open_repo(http_req *req, const char *type, hf_repo *out)
{
    char name[HF_NAME_MAX];
    es_err e = {0};
    if (hf_repo_name(req, name) < 0 ||
        store_hf_repo(http_app(req), name, out, &e) < 0 ||
        strcmp(out->type, type) != 0) {
        if (e.status && e.status != 404)
            hf_fail_err(req, &e, NULL);
        else
            hf_fail(req, 404, HF_REPO_NOT_FOUND, NULL,
                    "Repository not found");
        return -1;
    }
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
