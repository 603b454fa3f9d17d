/*
 * http_util.h - the pure parts of elvesd's HTTP layer: percent-decoding,
 * file-path checks, route pattern matching, query strings and HTTP dates.
 *
 * No sockets, no libmicrohttpd, no store: everything here works on strings
 * and is unit tested (tests/unit/server/test_http_util.c).  http.c and the route
 * files build on it.
 *
 * Decoding rules: "%XX" with two hex digits becomes the byte; a '%' not
 * followed by two hex digits, and "%00" (a NUL would cut the string short
 * and let "a%00.safetensors" pass a suffix check), are errors.  In query
 * strings '+' also means a space.
 */
#ifndef ELVESD_HTTP_UTIL_H
#define ELVESD_HTTP_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Longest file path accepted, in bytes after decoding (store.h's rule). */
#define HTTP_PATH_MAX 1024

/* Percent-decodes in[0..len) into out (cap bytes, NUL included).  Returns
 * the decoded length, or -1 on a bad escape, %00, a raw NUL, or if the
 * result does not fit. */
ssize_t http_pct_decode(char *out, size_t cap, const char *in, size_t len,
                        int plus_is_space);

/* Percent-encodes in for a URL path or query value: RFC 3986 unreserved
 * characters kept, and '/' if keep_slash; truncated (whole escapes only)
 * to fit cap, always terminated. */
void http_pct_encode(char *out, size_t cap, const char *in, int keep_slash);

/* "org/name" from the two route captures; a ".git" ending of name is
 * dropped if strip_git (git clients add it).  Returns 0, or -1 if a
 * capture is missing or the result does not fit in cap.  The name is not
 * checked (store_repo_name_valid does that). */
int http_repo_name(char *out, size_t cap, const char *org, const char *name,
                   int strip_git);

/* Whether s is strict UTF-8. */
int http_utf8_valid(const char *s);

/* Checks a decoded repository file path: relative, '/'-separated, no empty,
 * "." or ".." component, no '\\', no control character, UTF-8, at most
 * HTTP_PATH_MAX bytes.  Returns NULL if fine, else a static reason for the
 * error message. */
const char *http_path_problem(const char *path);

/* ---- routes ----------------------------------------------------------------
 * A pattern is a path of '/'-separated segments; a segment is literal text,
 * "{name}" (one segment, percent-decoded, so "refs%2Fpr%2F1" captures
 * "refs/pr/1"), or, last only, "{name*}" (one or more segments, decoded as
 * a whole).  Literal segments compare with the raw (undecoded) path. */

#define HTTP_MAX_PARAMS 8

typedef struct http_kv {
    char *key;
    char *value;
} http_kv;

typedef struct http_params {
    size_t n;
    http_kv kv[HTTP_MAX_PARAMS];
} http_params;

/* Returns 1 and fills *out (free with http_params_free) if the raw path
 * (no query) matches; 0 if not; -1 if it matches but a capture is badly
 * encoded (the caller answers 400).  *out is empty unless 1 is returned. */
int http_route_match(const char *pattern, const char *path, http_params *out);
const char *http_params_get(const http_params *p, const char *name);
void http_params_free(http_params *p);

/* ---- query strings ------------------------------------------------------ */

#define HTTP_MAX_QUERY_PAIRS 64

typedef struct http_query {
    size_t n;
    http_kv *kv; /* key and value decoded; value "" for "?flag" */
} http_query;

/* Parses the text after '?' (raw may be NULL or empty).  Returns 0, or -1
 * on a bad escape or more than HTTP_MAX_QUERY_PAIRS pairs (*q is then
 * empty). */
int http_query_parse(http_query *q, const char *raw);
/* The first value for key, or NULL. */
const char *http_query_get(const http_query *q, const char *key);
void http_query_free(http_query *q);

/* ---- dates (RFC 7231 section 7.1.1.1) ----------------------------------- */

#define HTTP_DATE_LEN 40 /* room for "Sun, 06 Nov 1994 08:49:37 GMT" + NUL */

/* Formats unix seconds as an IMF-fixdate. */
void http_date_format(char out[HTTP_DATE_LEN], int64_t t);
/* Parses IMF-fixdate, RFC 850 and asctime dates.  Returns 0 or -1. */
int http_date_parse(const char *s, int64_t *out);

#endif /* ELVESD_HTTP_UTIL_H */
