/*
 * s3.c - the S3 client of s3.h: one request function that signs, sends,
 * retries and maps the answer to an es_err, the calls built on it, and the
 * little XML reading they need.
 *
 * Bodies are given to libcurl as POSTFIELDS (with the method set by
 * CUSTOMREQUEST), never through a read callback: libcurl then knows the
 * body when it signs, and a retry sends the same bytes again.
 */
#define _GNU_SOURCE /* strptime, timegm */
#include "s3.h"

#include <ctype.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "s3_xml.h"

#define DEFAULT_TRIES 4
#define DEFAULT_BACKOFF_MS 100
#define DEFAULT_CONNECT_TIMEOUT_MS 5000
#define DEFAULT_TIMEOUT_MS 120000
#define POOL_MAX 16
#define ANSWER_MAX ((size_t)8 << 20) /* XML answers: a list page is ~200 KB */
#define URL_MAX 4096
#define QUERY_MAX 3072

struct s3_client {
    s3_config cfg;
    char sigv4[96]; /* "aws:amz:REGION:s3" */
    pthread_mutex_t mu; /* guards idle */
    CURL *idle[POOL_MAX];
    int n_idle;
};

/* ---- digests ------------------------------------------------------------ */

static void to_hex(const unsigned char *b, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[b[i] >> 4];
        out[2 * i + 1] = hx[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static void digest(const EVP_MD *md, const void *data, size_t len,
                   unsigned char *out)
{
    unsigned int n;
    EVP_Digest(data, len, out, &n, md, NULL);
}

/* An ETag as answered ('"hex"', maybe W/ or unquoted) equals hex. */
static int etag_is(const char *etag, const char *hex)
{
    const char *e = etag;
    if (strncmp(e, "W/", 2) == 0)
        e += 2;
    size_t n = strlen(e);
    if (n >= 2 && e[0] == '"' && e[n - 1] == '"') {
        e++;
        n -= 2;
    }
    return n == strlen(hex) && strncasecmp(e, hex, n) == 0;
}

/* ---- one request ----------------------------------------------------------
 */

typedef struct s3_req {
    const char *method;      /* GET HEAD PUT POST DELETE */
    const char *key;         /* NULL: the bucket */
    const char *query;       /* canonical (sorted, encoded) or NULL */
    const void *body;
    size_t body_len;
    const char *range;       /* "bytes=a-b" or NULL */
    const char *content_md5; /* base64, or NULL */
    const char *content_type;
    /* the answer */
    uint8_t *into; /* not NULL: a 2xx body goes here (into_cap bytes) */
    size_t into_cap, into_len;
    int overflow;  /* the 2xx body was longer than into_cap */
    char *text;    /* any other body (NUL-terminated), malloc'd */
    size_t text_len, text_cap;
    long status;
    unsigned tries; /* how many were sent */
    char etag[S3_ETAG_MAX];
} s3_req;

static void req_reset_answer(s3_req *r)
{
    r->into_len = 0;
    r->overflow = 0;
    r->text_len = 0;
    if (r->text)
        r->text[0] = '\0';
    r->status = 0;
    r->etag[0] = '\0';
}

typedef struct write_ctx {
    s3_req *r;
    CURL *h;
} write_ctx;

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    write_ctx *w = arg;
    s3_req *r = w->r;
    size_t n = size * nmemb;
    long status = 0;
    curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &status);
    if (r->into && status >= 200 && status < 300) {
        if (n > r->into_cap - r->into_len) {
            r->overflow = 1;
            return 0; /* aborts the transfer: the answer is wrong anyway */
        }
        memcpy(r->into + r->into_len, p, n);
        r->into_len += n;
        return n;
    }
    if (r->text_len + n + 1 > ANSWER_MAX)
        return 0;
    if (r->text_len + n + 1 > r->text_cap) {
        size_t cap = r->text_cap ? r->text_cap : 4096;
        while (cap < r->text_len + n + 1)
            cap *= 2;
        char *t = realloc(r->text, cap);
        if (!t)
            return 0;
        r->text = t;
        r->text_cap = cap;
    }
    memcpy(r->text + r->text_len, p, n);
    r->text_len += n;
    r->text[r->text_len] = '\0';
    return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *arg)
{
    s3_req *r = arg;
    size_t n = size * nmemb;
    if (n > 5 && strncasecmp(p, "etag:", 5) == 0) {
        size_t i = 5, j = n;
        while (i < j && isspace((unsigned char)p[i]))
            i++;
        while (j > i && isspace((unsigned char)p[j - 1]))
            j--;
        if (j - i < sizeof r->etag) {
            memcpy(r->etag, p + i, j - i);
            r->etag[j - i] = '\0';
        }
    }
    return n;
}

static CURL *pool_take(s3_client *c)
{
    pthread_mutex_lock(&c->mu);
    CURL *h = c->n_idle > 0 ? c->idle[--c->n_idle] : NULL;
    pthread_mutex_unlock(&c->mu);
    return h ? h : curl_easy_init();
}

static void pool_give(s3_client *c, CURL *h)
{
    pthread_mutex_lock(&c->mu);
    if (c->n_idle < POOL_MAX) {
        c->idle[c->n_idle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    if (h)
        curl_easy_cleanup(h);
}

static CURLcode send_once(s3_client *c, CURL *h, s3_req *r, const char *url,
                          struct curl_slist *hdrs)
{
    const s3_config *cfg = &c->cfg;
    write_ctx w = {r, h};
    req_reset_answer(r);
    curl_easy_reset(h); /* keeps the connection cache */
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERNAME, cfg->access_key);
    curl_easy_setopt(h, CURLOPT_PASSWORD, cfg->secret_key);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, c->sigv4);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, cfg->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, cfg->timeout_ms);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &w);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    if (strcmp(r->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(r->method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
        if (strcmp(r->method, "DELETE") != 0) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body ? r->body : "");
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                             (curl_off_t)r->body_len);
        }
    }
    CURLcode cc = curl_easy_perform(h);
    r->tries++;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    return cc;
}

/* Failures of the connection or the transfer, worth another try. */
static int curl_retryable(CURLcode cc)
{
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_WEIRD_SERVER_REPLY:
        return 1;
    default:
        return 0;
    }
}

static void backoff(const s3_config *cfg, unsigned attempt)
{
    /* base * 2^attempt, times a jitter factor in [0.5, 1.5) */
    double ms = (double)cfg->backoff_ms * (double)(1u << attempt);
    ms *= 0.5 + (double)random() / ((double)RAND_MAX + 1.0);
    struct timespec ts = {(time_t)(ms / 1000),
                          (long)((ms - (double)(long)(ms / 1000) * 1000) *
                                 1e6)};
    nanosleep(&ts, NULL);
}

static struct curl_slist *add_header(struct curl_slist *l, int *bad,
                                     const char *fmt, const char *v)
{
    char line[512];
    snprintf(line, sizeof line, fmt, v);
    struct curl_slist *n = curl_slist_append(l, line);
    if (!n)
        *bad = 1;
    return n ? n : l;
}

static struct curl_slist *req_headers(const s3_req *r)
{
    unsigned char sha[32];
    char sha_hex[65];
    digest(EVP_sha256(), r->body ? r->body : "", r->body_len, sha);
    to_hex(sha, 32, sha_hex);
    int bad = 0;
    struct curl_slist *l = NULL;
    l = add_header(l, &bad, "x-amz-content-sha256: %s", sha_hex);
    if (r->range)
        l = add_header(l, &bad, "Range: %s", r->range);
    if (r->content_md5)
        l = add_header(l, &bad, "Content-MD5: %s", r->content_md5);
    if (r->body || strcmp(r->method, "POST") == 0 ||
        strcmp(r->method, "PUT") == 0)
        l = add_header(l, &bad, "Content-Type: %s",
                       r->content_type ? r->content_type
                                       : "application/octet-stream");
    if (bad) {
        curl_slist_free_all(l);
        return NULL;
    }
    return l;
}

static const char *what(const s3_req *r)
{
    return r->key ? r->key : "(bucket)";
}

/* Sends r, retrying as s3.h says.  0 when an answer came (any status: the
 * caller reads r->status), -1 (503, or 500 for a request libcurl refused)
 * when none did or the service kept failing. */
static int perform(s3_client *c, s3_req *r, es_err *err)
{
    const s3_config *cfg = &c->cfg;
    char url[URL_MAX];
    int n = s3_object_url(cfg, r->key, url, sizeof url);
    if (n < 0 || (r->query && (size_t)n + strlen(r->query) + 2 > sizeof url))
        return es_errf(err, 500, "S3 URL too long for %s", what(r));
    if (r->query)
        snprintf(url + n, sizeof url - (size_t)n, "?%s", r->query);
    struct curl_slist *hdrs = req_headers(r);
    CURL *h = hdrs ? pool_take(c) : NULL;
    if (!h) {
        curl_slist_free_all(hdrs);
        return es_errf(err, 500, "out of memory");
    }
    CURLcode cc;
    r->tries = 0;
    for (unsigned i = 0;; i++) {
        cc = send_once(c, h, r, url, hdrs);
        int again = cc != CURLE_OK
                        ? curl_retryable(cc)
                        : r->status >= 500 || r->status == 429;
        if (!again || i + 1 >= cfg->tries)
            break;
        char why[64];
        snprintf(why, sizeof why, "answered %ld", r->status);
        log_msg(LOG_LVL_WARN, "s3: %s %s: %s; retrying (%u of %u)",
                r->method, what(r),
                cc != CURLE_OK ? curl_easy_strerror(cc) : why, i + 2,
                cfg->tries);
        backoff(cfg, i);
    }
    curl_slist_free_all(hdrs);
    pool_give(c, h);
    if (cc != CURLE_OK && r->overflow)
        return es_errf(err, 500, "S3 %s %s: answer longer than asked for",
                       r->method, what(r));
    if (cc != CURLE_OK)
        return es_errf(err, curl_retryable(cc) ? 503 : 500,
                       "S3 endpoint %s unreachable (%s %s: %s, %u tries)",
                       cfg->endpoint, r->method, what(r),
                       curl_easy_strerror(cc), r->tries);
    if (r->status >= 500 || r->status == 429) {
        char code[64] = "";
        if (r->text)
            s3_xml_text(r->text, r->text + r->text_len, "Code", code,
                     sizeof code);
        return es_errf(err, 503, "S3 kept failing: %s %s answered %ld%s%s "
                       "%u times", r->method, what(r), r->status,
                       *code ? " " : "", code, r->tries);
    }
    return 0;
}

/* The es_err of an answer that is not 2xx. */
static int answer_err(const s3_client *c, const s3_req *r, es_err *err)
{
    char code[64] = "", msg[128] = "";
    if (r->text) {
        const char *end = r->text + r->text_len;
        s3_xml_text(r->text, end, "Code", code, sizeof code);
        s3_xml_text(r->text, end, "Message", msg, sizeof msg);
    }
    if (r->status == 404)
        return es_errf(err, 404, "S3: %s: %s in bucket %s",
                       *code ? code : "not found", what(r), c->cfg.bucket);
    if (r->status == 403)
        return es_errf(err, 403,
                       "S3 refused the credentials (%s) for %s %s of bucket "
                       "%s%s%s",
                       *code ? code : "403 Forbidden", r->method, what(r),
                       c->cfg.bucket, *msg ? ": " : "", msg);
    return es_errf(err, 500, "S3 answered %ld%s%s to %s %s%s%s", r->status,
                   *code ? " " : "", code, r->method, what(r),
                   *msg ? ": " : "", msg);
}

/* perform, then any non-2xx answer is an error. */
static int request(s3_client *c, s3_req *r, es_err *err)
{
    if (perform(c, r, err) < 0)
        return -1;
    if (r->status < 200 || r->status > 299)
        return answer_err(c, r, err);
    return 0;
}

static void req_free(s3_req *r)
{
    free(r->text);
    r->text = NULL;
}

/* ---- the client -------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

int s3_client_new(s3_client **out, const s3_config *cfg, es_err *err)
{
    if (!cfg->access_key || !*cfg->access_key || !cfg->secret_key ||
        !*cfg->secret_key)
        return es_errf(err, 400, "S3: no access key or secret key given");
    if (!cfg->endpoint || !cfg->bucket || !cfg->region)
        return es_errf(err, 400, "S3: endpoint, bucket and region are needed");
    pthread_once(&curl_once, curl_init_once);
    s3_client *c = calloc(1, sizeof *c);
    if (!c)
        return es_errf(err, 500, "out of memory");
    c->cfg = *cfg;
    c->cfg.endpoint = dup_or_empty(cfg->endpoint);
    c->cfg.region = dup_or_empty(cfg->region);
    c->cfg.bucket = dup_or_empty(cfg->bucket);
    c->cfg.prefix = dup_or_empty(cfg->prefix);
    c->cfg.access_key = dup_or_empty(cfg->access_key);
    c->cfg.secret_key = dup_or_empty(cfg->secret_key);
    pthread_mutex_init(&c->mu, NULL);
    if (!c->cfg.endpoint || !c->cfg.region || !c->cfg.bucket ||
        !c->cfg.prefix || !c->cfg.access_key || !c->cfg.secret_key) {
        s3_client_free(c);
        return es_errf(err, 500, "out of memory");
    }
    if (!c->cfg.tries)
        c->cfg.tries = DEFAULT_TRIES;
    if (!c->cfg.backoff_ms)
        c->cfg.backoff_ms = DEFAULT_BACKOFF_MS;
    if (!c->cfg.connect_timeout_ms)
        c->cfg.connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
    if (!c->cfg.timeout_ms)
        c->cfg.timeout_ms = DEFAULT_TIMEOUT_MS;
    snprintf(c->sigv4, sizeof c->sigv4, "aws:amz:%s:s3", c->cfg.region);
    *out = c;
    return 0;
}

void s3_client_free(s3_client *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n_idle; i++)
        curl_easy_cleanup(c->idle[i]);
    pthread_mutex_destroy(&c->mu);
    s3_config_free(&c->cfg);
    free(c);
}

/* ---- calls ----------------------------------------------------------------
 */

/* S3's URI encoding of a query value (RFC 3986 unreserved kept). */
static void uri_encode(const char *in, char *out, size_t cap)
{
    static const char hx[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *in && o + 4 < cap; in++) {
        unsigned char ch = (unsigned char)*in;
        if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = hx[ch >> 4];
            out[o++] = hx[ch & 15];
        }
    }
    out[o] = '\0';
}

/* The listing query: parameters in the sorted order SigV4 signs them. */
static void list_query(char q[QUERY_MAX], const char *token,
                       const char *max_keys, const char *prefix)
{
    char tok[1024] = "", pre[1024];
    if (token)
        uri_encode(token, tok, sizeof tok);
    uri_encode(prefix, pre, sizeof pre);
    snprintf(q, QUERY_MAX, "%s%s%slist-type=2%s%s&prefix=%s",
             token ? "continuation-token=" : "", tok, token ? "&" : "",
             max_keys ? "&max-keys=" : "", max_keys ? max_keys : "", pre);
}

int s3_head_bucket(s3_client *c, es_err *err)
{
    s3_req r = {.method = "HEAD"};
    int rc = perform(c, &r, err);
    if (rc == 0 && (r.status < 200 || r.status > 299)) {
        /* ask again with a body, for the error Code */
        char q[QUERY_MAX];
        list_query(q, NULL, "1", "");
        s3_req l = {.method = "GET", .query = q};
        rc = request(c, &l, err);
        if (rc == 0) /* it worked this time: report what HEAD said */
            rc = answer_err(c, &r, err);
        req_free(&l);
    }
    req_free(&r);
    return rc;
}

/* A PUT of data (to key, or a part of it with query) with Content-MD5; the
 * ETag answered must be that MD5, whose hex goes to hex. */
static int put_checked(s3_client *c, const char *key, const char *query,
                       const void *data, size_t len, char hex[33],
                       es_err *err)
{
    unsigned char md5[16];
    char md5_b64[32];
    digest(EVP_md5(), data, len, md5);
    EVP_EncodeBlock((unsigned char *)md5_b64, md5, 16);
    to_hex(md5, 16, hex);
    s3_req r = {.method = "PUT",
                .key = key,
                .query = query,
                .body = data,
                .body_len = len,
                .content_md5 = md5_b64};
    int rc = request(c, &r, err);
    if (rc == 0 && !etag_is(r.etag, hex))
        rc = es_errf(err, 500, "S3 PUT %s%s%s: ETag %s is not the MD5 %s",
                     key, query ? "?" : "", query ? query : "", r.etag, hex);
    req_free(&r);
    return rc;
}

int s3_put_object(s3_client *c, const char *key, const void *data,
                  size_t len, es_err *err)
{
    char hex[33];
    return put_checked(c, key, NULL, data, len, hex, err);
}

int s3_get_range(s3_client *c, const char *key, uint64_t off, size_t len,
                 void *buf, es_err *err)
{
    if (len == 0)
        return es_errf(err, 500, "S3 GET %s: empty range", key);
    char range[64];
    snprintf(range, sizeof range, "bytes=%" PRIu64 "-%" PRIu64, off,
             off + len - 1);
    s3_req r = {.method = "GET",
                .key = key,
                .range = range,
                .into = buf,
                .into_cap = len};
    int rc = request(c, &r, err);
    if (rc == 0 && r.status != 206 && !(r.status == 200 && off == 0))
        rc = es_errf(err, 500, "S3 GET %s %s answered %ld, not 206", key,
                     range, r.status);
    if (rc == 0 && r.into_len != len)
        rc = es_errf(err, 500,
                     "S3 GET %s %s: %zu bytes came, not %zu (object too "
                     "short?)",
                     key, range, r.into_len, len);
    req_free(&r);
    return rc;
}

int s3_list(s3_client *c, const char *prefix,
            int (*fn)(void *ctx, const s3_object *o), void *ctx,
            es_err *err)
{
    char token[1024] = "";
    int rc = 0;
    do {
        char q[QUERY_MAX];
        list_query(q, *token ? token : NULL, NULL, prefix);
        s3_req r = {.method = "GET", .query = q};
        rc = request(c, &r, err);
        if (rc == 0)
            rc = s3_xml_list_page(r.text ? r.text : "", r.text_len, fn, ctx,
                                   token, sizeof token, err);
        req_free(&r);
    } while (rc == 0 && *token);
    return rc;
}

/* A DELETE, for which "already gone" (404) is success too. */
static int delete_request(s3_client *c, const char *key, const char *query,
                          es_err *err)
{
    s3_req r = {.method = "DELETE", .key = key, .query = query};
    int rc = perform(c, &r, err);
    if (rc == 0 && r.status != 404 && (r.status < 200 || r.status > 299))
        rc = answer_err(c, &r, err);
    req_free(&r);
    return rc;
}

int s3_delete_object(s3_client *c, const char *key, es_err *err)
{
    return delete_request(c, key, NULL, err);
}

int s3_multipart_create(s3_client *c, const char *key, char **upload_id,
                        es_err *err)
{
    s3_req r = {.method = "POST", .key = key, .query = "uploads="};
    int rc = request(c, &r, err);
    char id[512];
    if (rc == 0 && (!r.text || s3_xml_text(r.text, r.text + r.text_len,
                                        "UploadId", id, sizeof id) < 0 ||
                    !*id))
        rc = es_errf(err, 500, "S3 multipart create %s: no UploadId", key);
    if (rc == 0 && !(*upload_id = strdup(id)))
        rc = es_errf(err, 500, "out of memory");
    req_free(&r);
    return rc;
}

static void upload_query(char *q, size_t cap, int number,
                         const char *upload_id)
{
    char enc[1024];
    uri_encode(upload_id, enc, sizeof enc);
    if (number > 0)
        snprintf(q, cap, "partNumber=%d&uploadId=%s", number, enc);
    else
        snprintf(q, cap, "uploadId=%s", enc);
}

int s3_multipart_upload_part(s3_client *c, const char *key,
                             const char *upload_id, int number,
                             const void *data, size_t len, s3_part *out,
                             es_err *err)
{
    char q[1200], hex[33];
    upload_query(q, sizeof q, number, upload_id);
    if (put_checked(c, key, q, data, len, hex, err) < 0)
        return -1;
    out->number = number;
    snprintf(out->etag, sizeof out->etag, "\"%s\"", hex);
    return 0;
}

/* The ETag of key, from its HEAD. */
static int head_etag(s3_client *c, const char *key, char etag[S3_ETAG_MAX],
                     es_err *err)
{
    s3_req r = {.method = "HEAD", .key = key};
    int rc = request(c, &r, err);
    if (rc == 0)
        memcpy(etag, r.etag, S3_ETAG_MAX);
    req_free(&r);
    return rc;
}

/* The ETag S3 gives the object the parts make: MD5 of their MD5s, "-n". */
static int multipart_etag(const s3_part *parts, size_t n, char out[48])
{
    unsigned char *md5s = malloc(16 * (n ? n : 1));
    if (!md5s)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *h = parts[i].etag + 1; /* '"' + 32 hex + '"' */
        for (int k = 0; k < 16; k++) {
            unsigned v;
            sscanf(h + 2 * k, "%2x", &v);
            md5s[16 * i + k] = (unsigned char)v;
        }
    }
    unsigned char d[16];
    digest(EVP_md5(), md5s, 16 * n, d);
    free(md5s);
    to_hex(d, 16, out);
    snprintf(out + 32, 16, "-%zu", n);
    return 0;
}

static char *complete_body(const s3_part *parts, size_t n)
{
    size_t cap = 64 + n * 128, o = 0;
    char *b = malloc(cap);
    if (!b)
        return NULL;
    o += (size_t)snprintf(b, cap, "<CompleteMultipartUpload>");
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(b + o, cap - o,
                              "<Part><PartNumber>%d</PartNumber><ETag>%s"
                              "</ETag></Part>",
                              parts[i].number, parts[i].etag);
    snprintf(b + o, cap - o, "</CompleteMultipartUpload>");
    return b;
}

int s3_multipart_complete(s3_client *c, const char *key,
                          const char *upload_id, const s3_part *parts,
                          size_t n, es_err *err)
{
    char q[1200], want[48], got[S3_ETAG_MAX] = "";
    upload_query(q, sizeof q, 0, upload_id);
    char *body = complete_body(parts, n);
    if (!body || multipart_etag(parts, n, want) < 0) {
        free(body);
        return es_errf(err, 500, "out of memory");
    }
    s3_req r = {.method = "POST",
                .key = key,
                .query = q,
                .body = body,
                .body_len = strlen(body),
                .content_type = "application/xml"};
    int rc = request(c, &r, err);
    const char *t = r.text ? r.text : "", *end = t + r.text_len;
    const char *in;
    size_t len;
    /* S3 may answer 200 and put the failure in the body */
    if (rc == 0 && s3_xml_find(t, end, "Error", &in, &len)) {
        r.status = 500;
        rc = answer_err(c, &r, err);
    }
    if (rc == 0 && s3_xml_text(t, end, "ETag", got, sizeof got) < 0)
        rc = es_errf(err, 500, "S3 complete %s: no ETag in the answer", key);
    /* Ceph RGW 16 answers <ETag></ETag>: the object's HEAD has it */
    if (rc == 0 && !*got)
        rc = head_etag(c, key, got, err);
    if (rc == 0 && !etag_is(got, want))
        rc = es_errf(err, 500, "S3 complete %s: ETag %s, expected \"%s\"",
                     key, got, want);
    free(body);
    req_free(&r);
    return rc;
}

int s3_multipart_abort(s3_client *c, const char *key, const char *upload_id,
                       es_err *err)
{
    char q[1200];
    upload_query(q, sizeof q, 0, upload_id);
    return delete_request(c, key, q, err);
}

/* The ListMultipartUploads query: parameters in SigV4's sorted order.
 * -1 if the markers make it too long. */
static int uploads_query(char q[QUERY_MAX], const char *prefix,
                         const char *key_marker, const char *id_marker)
{
    char pre[1024], km[1024], im[1024];
    uri_encode(prefix, pre, sizeof pre);
    uri_encode(key_marker, km, sizeof km);
    uri_encode(id_marker, im, sizeof im);
    int n = *key_marker
                ? snprintf(q, QUERY_MAX,
                           "key-marker=%s&prefix=%s&upload-id-marker=%s"
                           "&uploads=",
                           km, pre, im)
                : snprintf(q, QUERY_MAX, "prefix=%s&uploads=", pre);
    return n < QUERY_MAX ? 0 : -1;
}

int s3_multipart_list(s3_client *c, const char *prefix,
                      int (*fn)(void *ctx, const s3_upload *u), void *ctx,
                      es_err *err)
{
    char key_marker[1024] = "", id_marker[1024] = "";
    int rc = 0;
    do {
        char q[QUERY_MAX];
        if (uploads_query(q, prefix, key_marker, id_marker) < 0)
            return es_errf(err, 500, "S3 list uploads: markers too long");
        s3_req r = {.method = "GET", .query = q};
        rc = request(c, &r, err);
        if (rc == 0)
            rc = s3_xml_uploads_page(r.text ? r.text : "", r.text_len, fn,
                                     ctx, key_marker, id_marker,
                                     sizeof key_marker, err);
        req_free(&r);
    } while (rc == 0 && *key_marker);
    return rc;
}
