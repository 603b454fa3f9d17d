/*
 * mirror.c - pull-through mirror of an upstream hub (see mirror.h).
 *
 * Two kinds of upstream calls, both with libcurl:
 *   - JSON (revision info, recursive tree with Link paging): blocking easy
 *     transfers into memory;
 *   - file bytes: a multi handle driven from libmicrohttpd's content reader,
 *     so each piece the upstream sends is written to the spool file and
 *     handed to the client at once; when the whole file has arrived it
 *     becomes an object (file version + compression job) that the commit's
 *     listing then points to.  A client that goes away early leaves nothing
 *     behind (the next download fetches again).
 */
#include "mirror.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "download.h"
#include "hf_common.h"
#include "hf_json.h"
#include "log.h"

#define UP_URL_MAX 8192
#define JSON_MAX (64u << 20) /* largest upstream JSON answer kept */
#define TREE_PAGES_MAX 1000

static char upstream[1024];
static char auth_header[1100];
static unsigned ttl;

int mirror_init(const char *url, const char *token, unsigned ttl_s,
                char *err, size_t errlen)
{
    if (!url || !*url)
        return 0;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        snprintf(err, errlen, "libcurl did not initialise");
        return -1;
    }
    snprintf(upstream, sizeof upstream, "%s", url);
    size_t n = strlen(upstream);
    while (n > 0 && upstream[n - 1] == '/')
        upstream[--n] = '\0';
    if (token && *token)
        snprintf(auth_header, sizeof auth_header, "Authorization: Bearer %s",
                 token);
    ttl = ttl_s;
    return 0;
}

void mirror_shutdown(void)
{
    if (upstream[0])
        curl_global_cleanup();
}

int mirror_enabled(void)
{
    return upstream[0] != '\0';
}

/* ---- one upstream answer ------------------------------------------------------ */

typedef struct up_answer {
    long status;      /* 0: no answer (unreachable) */
    char code[64];    /* X-Error-Code */
    char msg[256];    /* X-Error-Message */
    char next[2048];  /* Link rel="next" target */
    char *body;
    size_t len;
    int too_big;
} up_answer;

static void copy_header_value(const char *line, size_t n, size_t skip,
                              char *out, size_t cap)
{
    const char *v = line + skip;
    size_t len = n - skip;
    while (len && (*v == ' ' || *v == '\t'))
        v++, len--;
    while (len && (v[len - 1] == '\r' || v[len - 1] == '\n'))
        len--;
    snprintf(out, cap, "%.*s", (int)len, v);
}

/* Link: <url>; rel="next" */
static void parse_link(const char *v, char *out, size_t cap)
{
    const char *lt = strchr(v, '<'), *gt = lt ? strchr(lt, '>') : NULL;
    if (lt && gt && strstr(gt, "rel=\"next\""))
        snprintf(out, cap, "%.*s", (int)(gt - lt - 1), lt + 1);
}

static size_t answer_header(char *line, size_t size, size_t nitems, void *ud)
{
    up_answer *a = ud;
    size_t n = size * nitems;
    char link[2200] = "";
    if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        a->code[0] = a->msg[0] = a->next[0] = '\0';
    } else if (n > 13 && strncasecmp(line, "X-Error-Code:", 13) == 0) {
        copy_header_value(line, n, 13, a->code, sizeof a->code);
    } else if (n > 16 && strncasecmp(line, "X-Error-Message:", 16) == 0) {
        copy_header_value(line, n, 16, a->msg, sizeof a->msg);
    } else if (n > 5 && strncasecmp(line, "Link:", 5) == 0) {
        copy_header_value(line, n, 5, link, sizeof link);
        parse_link(link, a->next, sizeof a->next);
    }
    return n;
}

static size_t answer_body(char *data, size_t size, size_t nitems, void *ud)
{
    up_answer *a = ud;
    size_t n = size * nitems;
    if (a->len + n > JSON_MAX) {
        a->too_big = 1;
        return 0;
    }
    char *grown = realloc(a->body, a->len + n + 1);
    if (!grown)
        return 0;
    a->body = grown;
    memcpy(a->body + a->len, data, n);
    a->len += n;
    a->body[a->len] = '\0';
    return n;
}

static struct curl_slist *upstream_headers(const char *extra)
{
    struct curl_slist *h = NULL;
    if (auth_header[0])
        h = curl_slist_append(h, auth_header);
    h = curl_slist_append(h, "Accept-Encoding: identity");
    if (extra)
        h = curl_slist_append(h, extra);
    return h;
}

static void common_options(CURL *c, const char *url, struct curl_slist *h)
{
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "elvesd-mirror");
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
}

/* GET url into a; a->status stays 0 if the upstream could not be reached. */
static void fetch(const char *url, up_answer *a)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = upstream_headers("Accept: application/json");
    memset(a, 0, sizeof *a);
    if (!c)
        return;
    common_options(c, url, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, answer_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, answer_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
    else
        log_msg(LOG_LVL_WARN, "upstream %s: %s", url, curl_easy_strerror(rc));
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
}

/* Passes an upstream 401/403/404 on; anything else (unreachable, 5xx) is a
 * 504.  Always answers. */
static void answer_upstream_error(http_req *req, const up_answer *a)
{
    long s = a->status;
    if (s == 401 || s == 403 || s == 404)
        hf_fail(req, (unsigned)s, a->code[0] ? a->code : HF_REPO_NOT_FOUND,
                NULL, "upstream: %s",
                a->msg[0] ? a->msg : "not found or not allowed");
    else
        hf_fail(req, 504, NULL, NULL, "upstream %s %s", upstream,
                s ? "failed" : "unreachable");
}

/* ---- listings -------------------------------------------------------------------- */

static int is_commit_id(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!isxdigit((unsigned char)s[n]) || isupper((unsigned char)s[n]))
            return 0;
    return n == 40;
}

/* An upstream tree entry as a listing entry, its path borrowed from e
 * (directories and other entries not listed: 0). */
static int entry_from_json(json_t *e, hf_file *f)
{
    const char *type = json_string_value(json_object_get(e, "type"));
    const char *path = json_string_value(json_object_get(e, "path"));
    const char *oid = json_string_value(json_object_get(e, "oid"));
    json_t *lfs = json_object_get(e, "lfs");
    const char *sha = json_string_value(json_object_get(lfs, "oid"));
    memset(f, 0, sizeof *f);
    if (!type || strcmp(type, "file") != 0 || !path || !store_path_valid(path))
        return 0;
    f->size = (uint64_t)json_integer_value(json_object_get(e, "size"));
    if (sha && strlen(sha) == 64)
        snprintf(f->sha256, sizeof f->sha256, "%s", sha);
    else if (oid && strlen(oid) == 40)
        snprintf(f->git_sha1, sizeof f->git_sha1, "%s", oid);
    else
        return 0;
    f->path = (char *)path;
    return 1;
}

static int listing_add_page(hf_file_list *l, json_t *arr)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        hf_file f;
        if (entry_from_json(e, &f) && hf_file_list_add(l, &f) < 0)
            return -1;
    }
    return 0;
}

/* The whole recursive tree of commit from the upstream; answers errors. */
static int fetch_tree(http_req *req, const char *type, const char *name,
                      const char *commit, hf_file_list *out)
{
    char url[UP_URL_MAX];
    up_answer a;
    memset(out, 0, sizeof *out);
    snprintf(url, sizeof url, "%s/api/%s/%s/tree/%s?recursive=true&"
             "expand=false", upstream, hf_api_kind(type), name, commit);
    for (int page = 0; page < TREE_PAGES_MAX && url[0]; page++) {
        fetch(url, &a);
        json_t *arr = a.status == 200 ? json_loadb(a.body, a.len, 0, NULL)
                                      : NULL;
        int ok = json_is_array(arr) && listing_add_page(out, arr) == 0;
        json_decref(arr);
        snprintf(url, sizeof url, "%s", a.next);
        if (!ok) {
            if (a.status == 200)
                a.status = 502; /* garbage: not passed on as is */
            answer_upstream_error(req, &a);
            free(a.body);
            hf_file_list_free(out);
            return -1;
        }
        free(a.body);
    }
    return 0;
}

/* rev -> commit on the upstream; -1 with *a kept for the error. */
static int upstream_commit(const char *type, const char *name,
                           const char *rev, char commit[41], up_answer *a)
{
    char url[UP_URL_MAX], enc[800];
    http_pct_encode(enc, sizeof enc, rev, 0);
    snprintf(url, sizeof url, "%s/api/%s/%s/revision/%s", upstream,
             hf_api_kind(type), name, enc);
    fetch(url, a);
    json_t *info = a->status == 200 ? json_loadb(a->body, a->len, 0, NULL)
                                    : NULL;
    const char *sha = json_string_value(json_object_get(info, "sha"));
    int ok = sha && is_commit_id(sha);
    if (ok)
        memcpy(commit, sha, 41);
    else if (a->status == 200)
        a->status = 502;
    json_decref(info);
    return ok ? 0 : -1;
}

static int load_listing(http_req *req, const char *key, const char *commit,
                        hf_rev *out, hf_file_list *files)
{
    es_err e = {0};
    int64_t created = 0;
    int rc = store_mirror_listing(http_app(req), key, commit, files,
                                  &created, &e);
    if (rc < 0) {
        hf_fail_err(req, &e, NULL);
        return -1;
    }
    if (rc == 1) {
        memset(out, 0, sizeof *out);
        memcpy(out->commit, commit, 41);
        out->created = created;
    }
    return rc;
}

/* Fetches and remembers commit's listing unless it is known. */
static int ensure_listing(http_req *req, const char *type, const char *name,
                          const char *key, const char *commit)
{
    hf_file_list fresh;
    es_err e = {0};
    int64_t created;
    int rc = store_mirror_listing(http_app(req), key, commit, &fresh,
                                  &created, &e);
    hf_file_list_free(&fresh);
    if (rc != 0) {
        if (rc < 0)
            hf_fail_err(req, &e, NULL);
        return rc < 0 ? -1 : 0;
    }
    if (fetch_tree(req, type, name, commit, &fresh) < 0)
        return -1;
    rc = store_mirror_save(http_app(req), key, commit, &fresh, &e);
    hf_file_list_free(&fresh);
    if (rc < 0)
        hf_fail_err(req, &e, NULL);
    return rc;
}

int mirror_snapshot(http_req *req, const char *type, const char *name,
                    const char *rev, hf_repo *r, hf_rev *out,
                    hf_file_list *files)
{
    char key[HF_NAME_MAX + 16], pin[41] = "", commit[41];
    int64_t fetched = 0;
    es_err e = {0};
    up_answer a = {0};
    rev = rev && *rev ? rev : "main";
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    snprintf(r->type, sizeof r->type, "%s", type);
    snprintf(r->mode, sizeof r->mode, "lossless");
    snprintf(key, sizeof key, "%s:%s", type, name);

    if (is_commit_id(rev)) {
        snprintf(pin, sizeof pin, "%s", rev);
        fetched = INT64_MAX / 2; /* commit ids never move */
    } else if (store_mirror_pin_get(http_app(req), key, rev, pin, &fetched,
                                    &e) < 0) {
        hf_fail_err(req, &e, NULL);
        return -1;
    }
    int fresh = pin[0] && (int64_t)time(NULL) - fetched < (int64_t)ttl;
    if (pin[0] && (fresh || is_commit_id(rev))) {
        int rc = load_listing(req, key, pin, out, files);
        if (rc != 0)
            return rc < 0 ? -1 : 0;
    }
    if (upstream_commit(type, name, rev, commit, &a) < 0) {
        int stale = pin[0] && (a.status == 0 || a.status >= 500) &&
                    load_listing(req, key, pin, out, files) == 1;
        if (!stale && !http_responded(req))
            answer_upstream_error(req, &a);
        free(a.body);
        return stale ? 0 : -1;
    }
    free(a.body);
    if (ensure_listing(req, type, name, key, commit) < 0)
        return -1;
    if (!is_commit_id(rev))
        store_mirror_pin_set(http_app(req), key, rev, commit, &e);
    return load_listing(req, key, commit, out, files) == 1 ? 0 : -1;
}

/* ---- file bytes -------------------------------------------------------------------- */

typedef struct mstream {
    http_req *req;
    es_store *st;
    CURLM *multi;
    CURL *easy;
    struct curl_slist *hdrs;
    long status;       /* of the final (non-redirect) answer */
    int headers_done, done;
    CURLcode result;
    char content_range[128];
    up_answer err;     /* X-Error-* of an error answer */
    char *buf;         /* received, not yet handed to the client */
    size_t len, off, cap;
    uint64_t got, want;
    store_spool *sp;   /* caching a whole GET, else NULL */
    hf_repo repo;
    char key[HF_NAME_MAX + 16], commit[41], sha256[65];
    char *path;
} mstream;

static size_t ms_header(char *line, size_t size, size_t nitems, void *ud)
{
    mstream *m = ud;
    size_t n = size * nitems;
    if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        const char *sp = memchr(line, ' ', n);
        m->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        m->content_range[0] = '\0';
    } else if (n > 14 && strncasecmp(line, "Content-Range:", 14) == 0) {
        copy_header_value(line, n, 14, m->content_range,
                          sizeof m->content_range);
    } else if (n <= 2 && !(m->status >= 300 && m->status < 400)) {
        m->headers_done = 1; /* end of the final header block */
    }
    answer_header(line, size, nitems, &m->err);
    return n;
}

static size_t ms_body(char *data, size_t size, size_t nitems, void *ud)
{
    mstream *m = ud;
    size_t n = size * nitems;
    es_err e = {0};
    if (m->status != 200 && m->status != 206)
        return n; /* an error body: dropped */
    if (m->len + n > m->cap) {
        size_t cap = m->cap ? m->cap : 65536;
        while (cap < m->len + n)
            cap *= 2;
        char *grown = realloc(m->buf, cap);
        if (!grown)
            return 0;
        m->buf = grown;
        m->cap = cap;
    }
    memcpy(m->buf + m->len, data, n);
    m->len += n;
    m->got += n;
    if (m->sp && store_spool_write(m->sp, data, n, &e) < 0) {
        log_msg(LOG_LVL_WARN, "mirror: not caching %s: %s", m->path, e.msg);
        store_spool_abort(m->sp);
        m->sp = NULL;
    }
    return n;
}

/* Drives the transfer until headers are in (want_headers) or some body
 * bytes wait, or it is over. */
static int pump(mstream *m, int want_headers)
{
    while (!m->done) {
        int running = 0, left;
        if (curl_multi_perform(m->multi, &running) != CURLM_OK)
            return -1;
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(m->multi, &left)))
            if (msg->msg == CURLMSG_DONE) {
                m->done = 1;
                m->result = msg->data.result;
            }
        if (want_headers ? m->headers_done : m->len > m->off)
            return 0;
        if (!m->done)
            curl_multi_poll(m->multi, NULL, 0, 1000, NULL);
    }
    return 0;
}

/* The whole file arrived: it becomes an object named by the listing. */
static void ms_cache(mstream *m)
{
    int64_t file_id;
    es_err e = {0};
    store_spool *sp = m->sp;
    m->sp = NULL;
    if (store_hf_object_put(m->st, &m->repo, sp, m->sha256[0] ? m->sha256
                                                              : NULL,
                            (int64_t)m->want, NULL, &file_id, NULL,
                            &e) < 0 ||
        store_mirror_set_file(m->st, m->key, m->commit, m->path, file_id,
                              &e) < 0)
        log_msg(LOG_LVL_WARN, "mirror: %s not cached: %s", m->path, e.msg);
}

static void ms_free(void *cls)
{
    mstream *m = cls;
    if (m->sp && m->got == m->want) {
        pump(m, 0); /* only the end of the transfer is left */
        if (m->done && m->result == CURLE_OK && m->got == m->want)
            ms_cache(m);
    }
    store_spool_abort(m->sp);
    if (m->multi && m->easy)
        curl_multi_remove_handle(m->multi, m->easy);
    curl_easy_cleanup(m->easy);
    curl_multi_cleanup(m->multi);
    curl_slist_free_all(m->hdrs);
    free(m->err.body);
    free(m->buf);
    free(m->path);
    free(m);
}

static ssize_t ms_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    mstream *m = cls;
    if (m->off == m->len) {
        m->off = m->len = 0;
        if (pump(m, 0) < 0)
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    if (m->off == m->len) /* over, with fewer bytes than announced */
        return m->got == m->want && m->result == CURLE_OK
                   ? MHD_CONTENT_READER_END_OF_STREAM
                   : MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = m->len - m->off < max ? m->len - m->off : max;
    memcpy(buf, m->buf + m->off, n);
    m->off += n;
    http_count_bytes(m->req, n);
    return (ssize_t)n;
}

/* ETag of a mirrored file: the upstream's (sha256 for LFS files, the
 * blob id for regular ones), so client caches agree with the upstream. */
static void etag_of(const hf_file *f, char out[70])
{
    snprintf(out, 70, "\"%s\"", f->git_sha1[0] ? f->git_sha1 : f->sha256);
}

static void file_headers(struct MHD_Response *r, const hf_file *f,
                         const char *commit)
{
    char etag[70], size[32];
    etag_of(f, etag);
    snprintf(size, sizeof size, "%" PRIu64, f->size);
    MHD_add_response_header(r, "X-Repo-Commit", commit);
    MHD_add_response_header(r, "X-Linked-ETag", etag);
    MHD_add_response_header(r, "X-Linked-Size", size);
    MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
    MHD_add_response_header(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
}

/* download_serve's extra headers for a fetched file: the upstream's. */
static void linked_headers(struct MHD_Response *r, void *ctx)
{
    const hf_file *f = ctx;
    char etag[70], size[32];
    etag_of(f, etag);
    snprintf(size, sizeof size, "%" PRIu64, f->size);
    MHD_add_response_header(r, "X-Linked-ETag", etag);
    MHD_add_response_header(r, "X-Linked-Size", size);
}

static ssize_t no_body(void *cls, uint64_t pos, char *buf, size_t max)
{
    return MHD_CONTENT_READER_END_OF_STREAM;
}

/* HEAD of a file not fetched yet: the listing knows all of it. */
static void head_from_listing(http_req *req, const hf_rev *rev,
                              const hf_file *f)
{
    struct MHD_Response *r =
        MHD_create_response_from_callback(f->size, 64, no_body, NULL, NULL);
    if (r)
        file_headers(r, f, rev->commit);
    http_respond(req, 200, r);
}

static mstream *ms_open(http_req *req, const hf_repo *r, const hf_rev *rev,
                        const hf_file *f, const char *range)
{
    char url[UP_URL_MAX], rev_enc[100], path_enc[3200], rh[200];
    mstream *m = calloc(1, sizeof *m);
    if (!m || !(m->path = strdup(f->path))) {
        free(m);
        return NULL;
    }
    m->req = req;
    m->st = http_app(req);
    m->repo = *r;
    m->want = f->size;
    memcpy(m->commit, rev->commit, 41);
    snprintf(m->key, sizeof m->key, "%s:%s", r->type, r->name);
    if (!f->git_sha1[0])
        memcpy(m->sha256, f->sha256, 65);
    http_pct_encode(rev_enc, sizeof rev_enc, rev->commit, 0);
    http_pct_encode(path_enc, sizeof path_enc, f->path, 1);
    snprintf(url, sizeof url, "%s/%s%s/resolve/%s/%s", upstream,
             hf_url_prefix(r->type), r->name, rev_enc, path_enc);
    snprintf(rh, sizeof rh, "Range: %s", range ? range : "");
    m->hdrs = upstream_headers(range ? rh : NULL);
    m->multi = curl_multi_init();
    m->easy = curl_easy_init();
    if (!m->multi || !m->easy) {
        ms_free(m);
        return NULL;
    }
    common_options(m->easy, url, m->hdrs);
    curl_easy_setopt(m->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(m->easy, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(m->easy, CURLOPT_HEADERFUNCTION, ms_header);
    curl_easy_setopt(m->easy, CURLOPT_HEADERDATA, m);
    curl_easy_setopt(m->easy, CURLOPT_WRITEFUNCTION, ms_body);
    curl_easy_setopt(m->easy, CURLOPT_WRITEDATA, m);
    curl_multi_add_handle(m->multi, m->easy);
    return m;
}

/* Streams the upstream answer to the client (status 200 or 206). */
static void relay(http_req *req, mstream *m, const hf_rev *rev,
                  const hf_file *f, int ranged)
{
    uint64_t total = f->size;
    if (ranged) { /* bytes a-b/N: the part's length */
        unsigned long long a, b;
        if (sscanf(m->content_range, "bytes %llu-%llu/", &a, &b) != 2 ||
            b < a) {
            ms_free(m);
            hf_fail(req, 502, NULL, NULL, "upstream range answer malformed");
            return;
        }
        total = m->want = b - a + 1;
    }
    struct MHD_Response *r = MHD_create_response_from_callback(
        total, DOWNLOAD_BLOCK, ms_read, m, ms_free);
    if (!r) {
        ms_free(m);
        http_respond_error(req, 500, "out of memory");
        return;
    }
    file_headers(r, f, rev->commit);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "application/octet-stream");
    if (ranged)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE,
                                m->content_range);
    http_respond(req, ranged ? 206 : 200, r);
}

/* A GET of a file not fetched yet: from the upstream.  A whole GET is
 * spooled on the way; a range is only relayed. */
static void fetch_file(http_req *req, const hf_repo *r, const hf_rev *rev,
                       const hf_file *f)
{
    const char *range = http_header(req, MHD_HTTP_HEADER_RANGE);
    es_err e = {0};
    mstream *m = ms_open(req, r, rev, f, range);
    if (!m) {
        http_respond_error(req, 500, "out of memory");
        return;
    }
    if (!range && store_spool_begin(http_app(req), &m->sp, &e) < 0)
        m->sp = NULL; /* served anyway, just not cached */
    if (pump(m, 1) < 0 || !m->headers_done ||
        (m->status != 200 && m->status != 206)) {
        m->err.status = m->headers_done ? m->status : 0;
        answer_upstream_error(req, &m->err);
        ms_free(m);
        return;
    }
    if (m->status == 206 && !range) {
        ms_free(m);
        hf_fail(req, 502, NULL, NULL, "upstream sent a range unasked");
        return;
    }
    relay(req, m, rev, f, m->status == 206);
}

void mirror_download(http_req *req, const hf_repo *r, const hf_rev *rev,
                     const hf_file *f)
{
    store_file sf;
    es_err e = {0};
    int64_t id = f->file_id;
    char key[HF_NAME_MAX + 16];
    /* an LFS object fetched through another commit or repo since */
    if (!id && !f->git_sha1[0] &&
        store_hf_object_find(http_app(req), r, f->sha256, f->size, &id,
                             &e) == 1) {
        snprintf(key, sizeof key, "%s:%s", r->type, r->name);
        store_mirror_set_file(http_app(req), key, rev->commit, f->path, id,
                              &e);
    }
    if (id && store_file_by_id(http_app(req), id, rev->commit, &sf, &e) ==
                  0) {
        download_serve(req, http_app(req), &sf, linked_headers, (void *)f);
        return;
    }
    if (http_is_head(req))
        head_from_listing(req, rev, f);
    else
        fetch_file(req, r, rev, f);
}
