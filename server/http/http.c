/*
 * http.c - the HTTP server: libmicrohttpd daemon, per-request state,
 * routing, request bodies, JSON answers, request log lines.
 *
 * libmicrohttpd calls us at four points per request:
 *   on_uri        request line read: allocate the request, keep the raw
 *                 target (our own decoder handles %2F, %00 and the query;
 *                 libmicrohttpd's unescaping is switched off);
 *   on_request    first call: headers are in, route (or answer an error);
 *                 middle calls: body pieces; last call: answer;
 *   on_completed  the request is over (sent, or the client went away):
 *                 free route state, log, free.
 */
#include "http.h"

#include <netdb.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "proxy.h"

#define ERR_MSG_MAX 512

struct http_server {
    struct MHD_Daemon *daemon;
    http_options opt;
    char host[256];
    const http_route **tables;
    size_t ntables;
    void *app;
    unsigned port;
    atomic_uint in_flight;
};

struct http_req {
    http_server *srv;
    struct MHD_Connection *conn;
    char *target;     /* raw request target as received */
    char *path;       /* raw path: target up to '?' (own copy) */
    http_query query; /* decoded */
    http_params params;
    const http_route *route;
    unsigned method;
    char method_name[16];
    char remote[64]; /* client address for the log (proxy.h rules) */
    struct timespec t0;
    int started;
    int responded;
    unsigned status;
    uint64_t bytes;
    uint64_t bytes_in; /* request body bytes received */
    char *body;
    size_t body_len, body_cap;
    unsigned fail_status;
    char fail_msg[ERR_MSG_MAX];
    void *state;
    void (*state_free)(void *state, int completed);
};

/* ---- accessors ------------------------------------------------------------
 */

unsigned http_method(const http_req *req)
{
    return req->method;
}

int http_is_head(const http_req *req)
{
    return req->method == HTTP_HEAD;
}

void *http_app(const http_req *req)
{
    return req->srv->app;
}

const char *http_param(const http_req *req, const char *name)
{
    return http_params_get(&req->params, name);
}

const char *http_arg(const http_req *req, const char *name)
{
    return http_query_get(&req->query, name);
}

const char *http_header(const http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_body(const http_req *req, size_t *len)
{
    *len = req->body_len;
    return req->body != NULL ? req->body : "";
}

void http_set_state(http_req *req, void *state,
                    void (*free_fn)(void *state, int completed))
{
    req->state = state;
    req->state_free = free_fn;
}

void *http_state(const http_req *req)
{
    return req->state;
}

void http_count_bytes(http_req *req, uint64_t n)
{
    req->bytes += n;
}

int http_responded(const http_req *req)
{
    return req->responded;
}

int http_failed(const http_req *req)
{
    return req->fail_status != 0;
}

void http_fail(http_req *req, unsigned status, const char *fmt, ...)
{
    va_list ap;
    if (req->fail_status != 0)
        return; /* the first error is the one reported */
    req->fail_status = status;
    va_start(ap, fmt);
    vsnprintf(req->fail_msg, sizeof req->fail_msg, fmt, ap);
    va_end(ap);
}

/* ---- answers ------------------------------------------------------------- */

static void allow_header(char *out, size_t cap, unsigned methods);

/* Browsers may read every answer (the Hub's clients run in pages too);
 * the exposed list is the Hub's, so client code reads the same headers. */
static void add_cors_headers(struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
    MHD_add_response_header(
        resp, "Access-Control-Expose-Headers",
        "X-Repo-Commit,X-Request-Id,X-Error-Code,X-Error-Message,"
        "X-Total-Count,ETag,Link,Accept-Ranges,Content-Range,X-Linked-Size,"
        "X-Linked-ETag,Content-Length,Content-Type");
}

/* OPTIONS preflight for any path a route answers. */
static void respond_preflight(http_req *req, unsigned allowed)
{
    char allow[80];
    allow_header(allow, sizeof allow, allowed | HTTP_OPTIONS);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (r != NULL) {
        MHD_add_response_header(r, "Access-Control-Allow-Methods", allow);
        MHD_add_response_header(r, "Access-Control-Allow-Headers",
                                "Authorization, Range, Content-Type, "
                                "Accept, X-Request-Id, If-None-Match, "
                                "If-Range, X-Content-Sha256");
        MHD_add_response_header(r, "Access-Control-Max-Age", "86400");
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    }
    http_respond(req, 204, r);
}

void http_respond(http_req *req, unsigned status, struct MHD_Response *resp)
{
    if (resp == NULL) { /* out of memory building it: close instead */
        log_msg(LOG_LVL_ERROR, "no memory for a %u response", status);
        return;
    }
    add_cors_headers(resp);
    if (req->responded) {
        log_msg(LOG_LVL_ERROR, "route answered twice (%u): bug", status);
    } else if (MHD_queue_response(req->conn, status, resp) != MHD_YES) {
        log_msg(LOG_LVL_ERROR, "could not queue a %u response", status);
    } else {
        req->responded = 1;
        req->status = status;
    }
    MHD_destroy_response(resp);
}

/* JSON text of body plus a newline, malloc'd; NULL on failure. */
static char *json_text(json_t *body, size_t *len)
{
    size_t n = json_dumpb(body, NULL, 0, JSON_COMPACT);
    char *buf = n > 0 ? malloc(n + 1) : NULL;
    if (buf == NULL || json_dumpb(body, buf, n, JSON_COMPACT) != n) {
        free(buf);
        return NULL;
    }
    buf[n] = '\n';
    *len = n + 1;
    return buf;
}

/* Counts a fixed body in the log line unless it is not sent (HEAD). */
static void count_fixed(http_req *req, size_t len)
{
    if (!http_is_head(req))
        req->bytes += len;
}

struct MHD_Response *http_json_response(http_req *req, json_t *body)
{
    size_t len = 0;
    char *text = body != NULL ? json_text(body, &len) : NULL;
    json_decref(body);
    if (text == NULL)
        return NULL;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(text);
        return NULL;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "application/json");
    count_fixed(req, len);
    return r;
}

/* A JSON string from text that may not be UTF-8 (it can quote a client's
 * bytes): non-ASCII bytes become '?' if the text is not valid UTF-8. */
static json_t *json_string_lossy(const char *s)
{
    json_t *j = json_string(s);
    if (j != NULL)
        return j;
    char *copy = strdup(s);
    if (copy == NULL)
        return NULL;
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

struct MHD_Response *http_error_response(http_req *req, const char *msg)
{
    json_t *body = json_object();
    if (body != NULL)
        json_object_set_new(body, "error", json_string_lossy(msg));
    return http_json_response(req, body);
}

void http_respond_json(http_req *req, unsigned status, json_t *body)
{
    struct MHD_Response *r = http_json_response(req, body);
    if (r == NULL) {
        http_respond_error(req, 500, "could not encode the answer");
        return;
    }
    http_respond(req, status, r);
}

void http_respond_error(http_req *req, unsigned status, const char *fmt, ...)
{
    char msg[ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct MHD_Response *r = http_error_response(req, msg);
    if (r == NULL) /* no memory for the JSON: the status alone */
        r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    http_respond(req, status, r);
}

unsigned http_err_status(const es_err *e)
{
    return e->status >= 400 && e->status < 600 ? (unsigned)e->status : 500;
}

static const char *err_msg(const es_err *e)
{
    return e->msg[0] ? e->msg : "internal error";
}

void http_respond_err(http_req *req, const es_err *e)
{
    http_respond_error(req, http_err_status(e), "%s", err_msg(e));
}

void http_fail_err(http_req *req, const es_err *e)
{
    http_fail(req, http_err_status(e), "%s", err_msg(e));
}

/* ---- request set-up --------------------------------------------------------
 */

static unsigned method_bit(const char *m)
{
    static const struct {
        const char *name;
        unsigned bit;
    } methods[] = {{"GET", HTTP_GET},       {"HEAD", HTTP_HEAD},
                   {"POST", HTTP_POST},     {"PUT", HTTP_PUT},
                   {"DELETE", HTTP_DELETE}, {"OPTIONS", HTTP_OPTIONS},
                   {"PATCH", HTTP_PATCH}};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strcmp(m, methods[i].name) == 0)
            return methods[i].bit;
    return 0;
}

static enum MHD_Result add_header_size(void *cls, enum MHD_ValueKind kind,
                                       const char *key, const char *value)
{
    size_t *total = cls;
    *total += strlen(key) + (value ? strlen(value) : 0) + 4;
    return MHD_YES;
}

static size_t header_bytes(http_req *req)
{
    size_t total = strlen(req->target) + strlen(req->method_name) + 12;
    MHD_get_connection_values(req->conn, MHD_HEADER_KIND, add_header_size,
                              &total);
    return total;
}

const struct sockaddr *http_peer_addr(const http_req *req)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    return ci != NULL ? ci->client_addr : NULL;
}

static const char *header_of(void *req, const char *name)
{
    return http_header(req, name);
}

/* The client's address for the log: the peer, or what a trusted proxy
 * says in X-Forwarded-For / Forwarded (proxy.c). */
static void find_remote(http_req *req)
{
    proxy_client_addr(proxy_global(), http_peer_addr(req), header_of, req,
                      req->remote, sizeof req->remote);
}

int http_public_base(http_req *req, char *out, size_t cap)
{
    return proxy_public_base(proxy_global(), http_peer_addr(req), header_of,
                             req, "localhost", out, cap);
}

static unsigned route_methods(const http_route *r)
{
    return r->methods | ((r->methods & HTTP_GET) ? HTTP_HEAD : 0);
}

static void allow_header(char *out, size_t cap, unsigned methods)
{
    static const char *names[] = {"GET",    "HEAD",    "POST", "PUT",
                                  "DELETE", "OPTIONS", "PATCH"};
    out[0] = '\0';
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(methods & (1u << i)))
            continue;
        size_t n = strlen(out);
        snprintf(out + n, cap - n, "%s%s", n ? ", " : "", names[i]);
    }
}

static void respond_405(http_req *req, unsigned allowed)
{
    char allow[80];
    char msg[192];
    allow_header(allow, sizeof allow, allowed);
    snprintf(msg, sizeof msg, "method %s not allowed here (allowed: %s)",
             req->method_name, allow);
    struct MHD_Response *r = http_error_response(req, msg);
    if (r != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    http_respond(req, 405, r);
}

/* Finds the route; answers 400/404/405 itself.  Returns 0 if routed. */
static int route_request(http_req *req)
{
    unsigned allowed = 0;
    for (size_t t = 0; t < req->srv->ntables; t++) {
        for (const http_route *r = req->srv->tables[t]; r->pattern; r++) {
            http_params p;
            int m = http_route_match(r->pattern, req->path, &p);
            if (m < 0) {
                http_respond_error(req, 400, "bad percent-encoding in URL");
                return -1;
            }
            if (m == 0)
                continue;
            if (route_methods(r) & req->method) {
                req->params = p;
                req->route = r;
                return 0;
            }
            allowed |= route_methods(r);
            http_params_free(&p);
        }
    }
    if (allowed != 0 && req->method == HTTP_OPTIONS)
        respond_preflight(req, allowed);
    else if (allowed != 0)
        respond_405(req, allowed);
    else
        http_respond_error(req, 404, "no such endpoint: %s %s",
                           req->method_name, req->path);
    return -1;
}

/* A declared body too big to buffer is refused before it is sent. */
static int body_too_big(http_req *req)
{
    const char *cl = http_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl == NULL)
        return 0;
    char *end;
    unsigned long long n = strtoull(cl, &end, 10);
    return n > req->srv->opt.max_json_bytes;
}

/* First call: everything but the body is known. */
static void begin_request(http_req *req, const char *method)
{
    snprintf(req->method_name, sizeof req->method_name, "%s", method);
    req->method = method_bit(method);
    find_remote(req);
    if (req->method == 0) {
        http_respond_error(req, 501, "method %s not implemented",
                           req->method_name);
        return;
    }
    if (header_bytes(req) > req->srv->opt.max_header_bytes) {
        http_respond_error(req, 431, "request headers larger than %zu bytes",
                           req->srv->opt.max_header_bytes);
        return;
    }
    char *q = strchr(req->target, '?');
    req->path = q ? strndup(req->target, (size_t)(q - req->target))
                  : strdup(req->target);
    if (req->path == NULL) {
        http_respond_error(req, 500, "out of memory");
        return;
    }
    if (http_query_parse(&req->query, q ? q + 1 : NULL) != 0) {
        http_respond_error(req, 400, "bad query string");
        return;
    }
    if (route_request(req) != 0)
        return;
    if (req->route->sink != NULL)
        req->route->sink->begin(req);
    else if (body_too_big(req))
        http_respond_error(req, 413, "request body larger than %zu bytes",
                           req->srv->opt.max_json_bytes);
}

static void buffer_body(http_req *req, const char *data, size_t len)
{
    size_t max = req->srv->opt.max_json_bytes;
    if (req->body_len + len > max) {
        http_fail(req, 413, "request body larger than %zu bytes", max);
        return;
    }
    if (req->body_len + len + 1 > req->body_cap) {
        size_t cap = req->body_cap ? req->body_cap : 4096;
        while (cap < req->body_len + len + 1)
            cap *= 2;
        char *nb = realloc(req->body, cap);
        if (nb == NULL) {
            http_fail(req, 500, "out of memory");
            return;
        }
        req->body = nb;
        req->body_cap = cap;
    }
    memcpy(req->body + req->body_len, data, len);
    req->body_len += len;
    req->body[req->body_len] = '\0';
}

static void body_piece(http_req *req, const char *data, size_t len)
{
    if (req->fail_status != 0)
        return; /* drain after an error */
    if (req->route->sink != NULL)
        req->route->sink->data(req, data, len);
    else
        buffer_body(req, data, len);
}

static void finish_request(http_req *req)
{
    if (req->fail_status != 0)
        http_respond_error(req, req->fail_status, "%s", req->fail_msg);
    else
        req->route->handler(req);
    if (!req->responded)
        http_respond_error(req, 500, "internal error: no answer");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    http_req *req = *con_cls;
    if (req == NULL)
        return MHD_NO; /* on_uri ran out of memory: drop the connection */
    req->conn = conn;
    if (!req->started) {
        req->started = 1;
        begin_request(req, method);
        return MHD_YES;
    }
    if (*upload_size > 0) {
        req->bytes_in += *upload_size;
        if (!req->responded)
            body_piece(req, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (!req->responded)
        finish_request(req);
    return MHD_YES;
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    http_server *srv = cls;
    http_req *req = calloc(1, sizeof *req);
    if (req == NULL)
        return NULL;
    req->target = strdup(uri);
    if (req->target == NULL) {
        free(req);
        return NULL;
    }
    req->srv = srv;
    req->conn = conn;
    clock_gettime(CLOCK_MONOTONIC, &req->t0);
    atomic_fetch_add(&srv->in_flight, 1);
    metrics_http_inflight(1);
    return req;
}

static double ms_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) * 1e3 +
           (double)(now.tv_nsec - t0->tv_nsec) / 1e6;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    http_server *srv = cls;
    http_req *req = *con_cls;
    if (req == NULL)
        return;
    *con_cls = NULL;
    int ok = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK;
    if (req->state_free != NULL)
        req->state_free(req->state, ok && req->responded);
    log_request_info info = {
        .method = req->method_name[0] ? req->method_name : "-",
        .path = req->target,
        .remote = req->remote,
        .status = (int)req->status,
        .bytes = req->bytes,
        .ms = ms_since(&req->t0),
        .aborted = !ok,
    };
    log_request(&info);
    metrics_http_request(req->route ? req->route->pattern : NULL, info.method,
                         req->status, req->bytes_in, req->bytes, info.ms / 1e3);
    metrics_http_inflight(-1);
    http_query_free(&req->query);
    http_params_free(&req->params);
    free(req->body);
    free(req->path);
    free(req->target);
    free(req);
    atomic_fetch_sub(&srv->in_flight, 1);
}

/* Leave the target as sent: http_util decodes it, segment by segment. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    return strlen(s);
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    log_msg(LOG_LVL_WARN, "libmicrohttpd: %s", msg);
}

/* ---- server life --------------------------------------------------------- */

static int resolve(const char *host, unsigned port,
                   struct sockaddr_storage *out, char *err, size_t errlen)
{
    struct addrinfo hints, *res = NULL;
    char portstr[16];
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(portstr, sizeof portstr, "%u", port);
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0 || res == NULL) {
        snprintf(err, errlen, "cannot resolve listen host '%s': %s", host,
                 gai_strerror(rc));
        return -1;
    }
    memset(out, 0, sizeof *out);
    memcpy(out, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

/* The per-connection memory pool holds the request line, the headers and
 * the read buffer for bodies: room for the largest allowed header block
 * twice over (so oversized headers reach us and get a JSON 431) and for
 * large body reads. */
static size_t pool_size(const http_options *opt)
{
    size_t want = opt->max_header_bytes * 2 + 64 * 1024;
    return want < 256 * 1024 ? 256 * 1024 : want;
}

static struct MHD_Daemon *start_daemon(http_server *srv,
                                       const struct sockaddr_storage *sa)
{
    const http_options *o = &srv->opt;
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (o->io_threads == 0)
        flags |= MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
    else
        flags |= MHD_USE_EPOLL;
    if (sa->ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_OptionItem ops[] = {
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_logger, NULL}, /* first */
        {MHD_OPTION_SOCK_ADDR, 0, (void *)sa},
        {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, srv},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, srv},
        {MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)no_unescape, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)o->max_connections, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)o->timeout_s, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)pool_size(o), NULL},
        {MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL},
        {o->io_threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END,
         (intptr_t)o->io_threads, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    return MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, on_request,
                            srv, MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
}

int http_start(http_server **out, const http_options *opt,
               const http_route *const *tables, size_t ntables, void *app,
               char *err, size_t errlen)
{
    struct sockaddr_storage sa;
    http_server *srv = calloc(1, sizeof *srv);
    *out = NULL;
    if (srv == NULL || (srv->tables = calloc(ntables ? ntables : 1,
                                             sizeof *srv->tables)) == NULL) {
        free(srv);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    srv->opt = *opt;
    snprintf(srv->host, sizeof srv->host, "%s", opt->host);
    srv->opt.host = srv->host;
    memcpy(srv->tables, tables, ntables * sizeof *tables);
    srv->ntables = ntables;
    srv->app = app;
    atomic_init(&srv->in_flight, 0);
    if (resolve(opt->host, opt->port, &sa, err, errlen) != 0)
        goto fail;
    srv->daemon = start_daemon(srv, &sa);
    if (srv->daemon == NULL) {
        snprintf(err, errlen, "cannot listen on %s:%u (in use? no right?)",
                 opt->host, opt->port);
        goto fail;
    }
    const union MHD_DaemonInfo *di =
        MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di != NULL ? di->port : opt->port;
    *out = srv;
    return 0;
fail:
    free(srv->tables);
    free(srv);
    return -1;
}

unsigned http_port(const http_server *srv)
{
    return srv->port;
}

void http_quiesce(http_server *srv)
{
    MHD_socket s = MHD_quiesce_daemon(srv->daemon);
    if (s != MHD_INVALID_SOCKET)
        close(s);
}

unsigned http_wait_idle(http_server *srv, unsigned timeout_ms)
{
    unsigned waited = 0;
    unsigned left;
    while ((left = atomic_load(&srv->in_flight)) > 0 && waited < timeout_ms) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
        waited += 20;
    }
    return left;
}

void http_stop(http_server *srv)
{
    if (srv == NULL)
        return;
    MHD_stop_daemon(srv->daemon);
    free(srv->tables);
    free(srv);
}
