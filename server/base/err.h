/*
 * err.h - the one error type of elvesd.
 *
 * Every layer reports a failure the same way: the function returns -1 and
 * fills the es_err its caller gave (which must not be NULL) with the HTTP
 * status that fits the failure (400 bad input, 401/403 auth, 404 not
 * found, 409 conflict, 413 too large, 500 internal, 502/504 upstream, 503
 * shutting down or backend unavailable) and a one-line message.  The HTTP
 * layer turns it into a response in one place (http_fail_err in http.h).
 */
#ifndef ELVESD_ERR_H
#define ELVESD_ERR_H

typedef struct es_err {
    int status; /* HTTP status */
    char msg[256];
} es_err;

/* Fills err (if not NULL) and returns -1.  The arguments may point into
 * err->msg itself. */
int es_errf(es_err *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* ELVESD_ERR_H */
