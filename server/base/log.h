/*
 * log.h - elvesd's log on stderr: one line per HTTP request, and free-form
 * server messages, as text or as JSON lines.
 *
 * Every function is thread-safe: a line is formatted in a local buffer and
 * written with one call under a lock, so lines from different threads never
 * interleave.  Anything a client sent (paths, addresses) is escaped, so a
 * request cannot forge log lines.
 */
#ifndef ELVESD_LOG_H
#define ELVESD_LOG_H

#include <stddef.h>
#include <stdint.h>

typedef enum log_level {
    LOG_LVL_DEBUG = 0,
    LOG_LVL_INFO,
    LOG_LVL_WARN,
    LOG_LVL_ERROR
} log_level;

/* json != 0: JSON lines; else text.  Call before any thread starts. */
void log_init(int json);

/* One finished (or aborted) request. */
typedef struct log_request_info {
    const char *method;
    const char *path;   /* raw request target, query included */
    const char *remote; /* client address (X-Forwarded-For when present) */
    int status;         /* 0 if the request ended before a response */
    uint64_t bytes;     /* body bytes sent */
    double ms;          /* from request line to completion */
    int aborted;        /* connection closed before the response finished */
} log_request_info;

void log_request(const log_request_info *r);

/* A server message (start-up, shutdown, store errors). */
void log_msg(log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Escapes s for a JSON string body (no quotes) into out (cap bytes,
 * always NUL-terminated, truncated if needed).  Exposed for tests. */
void log_json_escape(char *out, size_t cap, const char *s);

#endif /* ELVESD_LOG_H */
