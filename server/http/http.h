/*
 * http.h - elvesd's HTTP server on libmicrohttpd: start/stop, a
 * table-driven router, request accessors and the shared response helpers
 * every route uses (JSON bodies, JSON errors, streamed request bodies).
 *
 * A route file (api/routes_native.c, hf/routes_hf.c, ...) exports a table
 * of http_route, ended by an entry with pattern NULL; main.c hands the
 * tables to http_start, which tries them in order.  This layer knows no
 * route and no store: the app pointer it passes through is opaque.  Patterns follow http_util.h:
 * "/api/v1/repos/{org}/{name}/files/{path*}".
 *
 * Request life: headers arrive -> routed (404/405/400/431 answered here)
 * -> body: streamed to the route's http_body_sink, or buffered (JSON, at
 * most max_json_bytes, else 413) -> the handler answers with exactly one
 * http_respond_* call -> when the connection is done with the request, the
 * state the route attached is freed and one log line is written.
 *
 * Every error answer is JSON: {"error": "..."} with the status.
 */
#ifndef ELVESD_HTTP_H
#define ELVESD_HTTP_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <jansson.h>
#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "http_util.h"

typedef struct http_server http_server;
typedef struct http_req http_req;

/* Methods, as a bit set in http_route.methods.  A route that accepts GET
 * also answers HEAD (libmicrohttpd leaves the body out). */
enum {
    HTTP_GET = 1 << 0,
    HTTP_HEAD = 1 << 1,
    HTTP_POST = 1 << 2,
    HTTP_PUT = 1 << 3,
    HTTP_DELETE = 1 << 4,
    HTTP_OPTIONS = 1 << 5,
    HTTP_PATCH = 1 << 6
};

/* Answers a request whose body (if any) has fully arrived. */
typedef void (*http_handler)(http_req *req);

/* A route that streams its request body instead of buffering it. */
typedef struct http_body_sink {
    /* Headers are in.  May answer at once (an error: libmicrohttpd then
     * reads no body), else sets up state with http_set_state. */
    void (*begin)(http_req *req);
    /* A piece of the body (chunked bodies arrive decoded).  On failure
     * call http_fail: the rest of the body is read and dropped, and the
     * error is the answer; the handler is not called. */
    void (*data)(http_req *req, const char *data, size_t len);
} http_body_sink;

typedef struct http_route {
    unsigned methods;
    const char *pattern; /* NULL ends a table */
    http_handler handler;
    const http_body_sink *sink; /* NULL: the body is buffered */
} http_route;

typedef struct http_options {
    const char *host;
    unsigned port;       /* 0: any free port */
    unsigned io_threads; /* 0: one thread per connection */
    unsigned max_connections;
    size_t max_header_bytes; /* request line + headers; over: 431 */
    size_t max_json_bytes;   /* buffered bodies; over: 413 */
    unsigned timeout_s;      /* idle connections; 0: none */
} http_options;

/* Starts serving.  tables: ntables route tables tried in order; app: the
 * application's context (the store), returned by http_app.  Returns 0, or
 * -1 with a message in err. */
int http_start(http_server **out, const http_options *opt,
               const http_route *const *tables, size_t ntables, void *app,
               char *err, size_t errlen);
/* The port actually bound (useful with port 0). */
unsigned http_port(const http_server *srv);
/* Stops accepting connections; requests in flight go on. */
void http_quiesce(http_server *srv);
/* Waits up to timeout_ms for requests in flight to finish; returns how
 * many are left. */
unsigned http_wait_idle(http_server *srv, unsigned timeout_ms);
/* Closes every connection, joins the threads, frees srv. */
void http_stop(http_server *srv);

/* ---- request accessors ----------------------------------------------------
 */

unsigned http_method(const http_req *req); /* one HTTP_* bit */
int http_is_head(const http_req *req);
void *http_app(const http_req *req);
/* A decoded capture from the route pattern, or NULL. */
const char *http_param(const http_req *req, const char *name);
/* A decoded query argument, or NULL. */
const char *http_arg(const http_req *req, const char *name);
/* A request header (case-insensitive name), or NULL. */
const char *http_header(const http_req *req, const char *name);
/* The TCP peer's address (the proxy's, behind one), or NULL. */
const struct sockaddr *http_peer_addr(const http_req *req);
/* The base every absolute URL in an answer starts with:
 * "scheme://host[:port][/prefix]", no trailing slash, from --public-url or
 * the request (X-Forwarded-* and Forwarded from trusted proxies only; see
 * proxy.h).  Returns 0, or -1 if it does not fit in cap. */
int http_public_base(http_req *req, char *out, size_t cap);
/* The buffered body (routes without a sink); len may be 0. */
const char *http_body(const http_req *req, size_t *len);

/* Route state kept until the request is over; free_fn(state, completed)
 * is called exactly once then (completed: the response was fully sent),
 * also if the client went away mid-body. */
void http_set_state(http_req *req, void *state,
                    void (*free_fn)(void *state, int completed));
void *http_state(const http_req *req);

/* ---- answers --------------------------------------------------------------
 */

/* Queues resp with status (resp is released here).  Every other
 * http_respond_* ends up here. */
void http_respond(http_req *req, unsigned status, struct MHD_Response *resp);
/* {"error": msg} with status. */
void http_respond_error(http_req *req, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The one translation of a failure (err.h) into an answer: its status
 * when it is an HTTP error status (400..599), else 500, and its message
 * ("internal error" if empty) as {"error": msg}.  http_fail_err is the
 * same during body streaming (see http_fail). */
unsigned http_err_status(const es_err *e);
void http_respond_err(http_req *req, const es_err *e);
void http_fail_err(http_req *req, const es_err *e);
/* body as JSON (reference stolen); NULL body answers 500. */
void http_respond_json(http_req *req, unsigned status, json_t *body);
/* A JSON response not yet queued, so headers can be added; its body is
 * counted in req's log line (reference to body stolen; NULL on failure). */
struct MHD_Response *http_json_response(http_req *req, json_t *body);
struct MHD_Response *http_error_response(http_req *req, const char *msg);
/* Whether an answer has been queued. */
int http_responded(const http_req *req);

/* During body streaming: remember an error to answer once the body ends. */
void http_fail(http_req *req, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int http_failed(const http_req *req);

/* Adds n to the body bytes reported in the request's log line (streamed
 * responses call it as they produce data). */
void http_count_bytes(http_req *req, uint64_t n);

#endif /* ELVESD_HTTP_H */
