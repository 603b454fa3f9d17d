/*
 * http_util.c - percent-decoding, path checks, route matching, query
 * strings and HTTP dates: string work with no I/O (see http_util.h).
 */
#define _GNU_SOURCE /* strptime */
#include "http_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

ssize_t http_pct_decode(char *out, size_t cap, const char *in, size_t len,
                        int plus_is_space)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '%') {
            int hi = i + 2 < len ? hexval(in[i + 1]) : -1;
            int lo = i + 2 < len ? hexval(in[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (c == '\0' || o + 1 >= cap)
            return -1;
        out[o++] = c;
    }
    if (cap == 0)
        return -1;
    out[o] = '\0';
    return (ssize_t)o;
}

static const char *component_problem(const char *s, size_t len)
{
    if (len == 0)
        return "empty path component";
    if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
        return "'.' and '..' are not allowed in paths";
    return NULL;
}

/* Strict UTF-8: no overlongs, no surrogates, nothing above U+10FFFF. */
void http_pct_encode(char *out, size_t cap, const char *in, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    if (cap == 0)
        return;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        int plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                    (*p >= '0' && *p <= '9') || strchr("-._~", *p) ||
                    (keep_slash && *p == '/');
        if (o + (plain ? 1 : 3) >= cap)
            break;
        if (plain) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
}

int http_repo_name(char *out, size_t cap, const char *org, const char *name,
                   int strip_git)
{
    if (org == NULL || name == NULL)
        return -1;
    size_t n = strlen(name);
    if (strip_git && n > 4 && strcmp(name + n - 4, ".git") == 0)
        n -= 4;
    int w = snprintf(out, cap, "%s/%.*s", org, (int)n, name);
    return w < 0 || (size_t)w >= cap ? -1 : 0;
}

int http_utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p != 0) {
        unsigned c = *p, n, min;
        if (c < 0x80) {
            p++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1, min = 0x80, c &= 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2, min = 0x800, c &= 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3, min = 0x10000, c &= 0x07;
        } else {
            return 0;
        }
        for (unsigned i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return 0;
            c = c << 6 | (p[i] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return 0;
        p += n + 1;
    }
    return 1;
}

const char *http_path_problem(const char *path)
{
    size_t len = strlen(path);
    if (len == 0)
        return "empty path";
    if (len > HTTP_PATH_MAX)
        return "path longer than 1024 bytes";
    if (path[0] == '/')
        return "absolute paths are not allowed";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c == '\\')
            return "backslash in path";
        if (c < 0x20 || c == 0x7f)
            return "control character in path";
    }
    if (!http_utf8_valid(path))
        return "path is not UTF-8";
    const char *start = path;
    for (;;) {
        const char *slash = strchr(start, '/');
        size_t clen = slash ? (size_t)(slash - start) : strlen(start);
        const char *why = component_problem(start, clen);
        if (why != NULL)
            return why;
        if (slash == NULL)
            return NULL;
        start = slash + 1;
    }
}

/* ---- routes ----------------------------------------------------------------
 */

static size_t seg_len(const char *s)
{
    const char *slash = strchr(s, '/');
    return slash ? (size_t)(slash - s) : strlen(s);
}

static char *decode_dup(const char *s, size_t len)
{
    char *out = malloc(len + 1);
    if (out == NULL)
        return NULL;
    if (http_pct_decode(out, len + 1, s, len, 0) < 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* Adds name=decode(raw) to out; -1 on bad encoding or too many. */
static int capture(http_params *out, const char *name, size_t name_len,
                   const char *raw, size_t raw_len)
{
    if (out->n >= HTTP_MAX_PARAMS)
        return -1;
    char *key = strndup(name, name_len);
    char *value = decode_dup(raw, raw_len);
    if (key == NULL || value == NULL) {
        free(key);
        free(value);
        return -1;
    }
    out->kv[out->n].key = key;
    out->kv[out->n].value = value;
    out->n++;
    return 0;
}

/* 1 matched, 0 not, -1 bad encoding; does not clean up on failure. */
static int match_segments(const char *pat, const char *path, http_params *out)
{
    for (;;) {
        size_t plen = seg_len(pat);
        size_t slen = seg_len(path);
        if (plen >= 2 && pat[0] == '{' && pat[plen - 1] == '}') {
            int rest = plen >= 3 && pat[plen - 2] == '*';
            size_t nlen = plen - 2 - (size_t)rest;
            if (rest) {
                /* the rest of the path, at least one non-empty segment */
                if (pat[plen] != '\0' || path[0] == '\0')
                    return 0;
                return capture(out, pat + 1, nlen, path, strlen(path)) == 0
                           ? 1
                           : -1;
            }
            if (slen == 0)
                return 0;
            if (capture(out, pat + 1, nlen, path, slen) != 0)
                return -1;
        } else if (plen != slen || memcmp(pat, path, plen) != 0) {
            return 0;
        }
        pat += plen;
        path += slen;
        if (*pat == '\0' || *path == '\0')
            return *pat == '\0' && *path == '\0';
        pat++; /* both at '/' */
        path++;
    }
}

int http_route_match(const char *pattern, const char *path, http_params *out)
{
    memset(out, 0, sizeof *out);
    int r = match_segments(pattern, path, out);
    if (r != 1)
        http_params_free(out);
    return r;
}

const char *http_params_get(const http_params *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->kv[i].key, name) == 0)
            return p->kv[i].value;
    return NULL;
}

void http_params_free(http_params *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->kv[i].key);
        free(p->kv[i].value);
    }
    p->n = 0;
}

/* ---- query strings ------------------------------------------------------- */

static int query_add(http_query *q, const char *pair, size_t len)
{
    const char *eq = memchr(pair, '=', len);
    size_t klen = eq ? (size_t)(eq - pair) : len;
    const char *v = eq ? eq + 1 : pair + len;
    size_t vlen = eq ? len - klen - 1 : 0;
    http_kv *kv = &q->kv[q->n];

    kv->key = malloc(klen + 1);
    kv->value = malloc(vlen + 1);
    if (kv->key == NULL || kv->value == NULL ||
        http_pct_decode(kv->key, klen + 1, pair, klen, 1) < 0 ||
        http_pct_decode(kv->value, vlen + 1, v, vlen, 1) < 0) {
        free(kv->key);
        free(kv->value);
        return -1;
    }
    q->n++;
    return 0;
}

int http_query_parse(http_query *q, const char *raw)
{
    q->n = 0;
    q->kv = NULL;
    if (raw == NULL || raw[0] == '\0')
        return 0;
    q->kv = calloc(HTTP_MAX_QUERY_PAIRS, sizeof *q->kv);
    if (q->kv == NULL)
        return -1;
    const char *p = raw;
    while (*p != '\0') {
        size_t len = strcspn(p, "&");
        if (len > 0 &&
            (q->n >= HTTP_MAX_QUERY_PAIRS || query_add(q, p, len) != 0)) {
            http_query_free(q);
            return -1;
        }
        p += len;
        if (*p == '&')
            p++;
    }
    return 0;
}

const char *http_query_get(const http_query *q, const char *key)
{
    for (size_t i = 0; i < q->n; i++)
        if (strcmp(q->kv[i].key, key) == 0)
            return q->kv[i].value;
    return NULL;
}

void http_query_free(http_query *q)
{
    for (size_t i = 0; i < q->n; i++) {
        free(q->kv[i].key);
        free(q->kv[i].value);
    }
    free(q->kv);
    q->kv = NULL;
    q->n = 0;
}

/* ---- dates
 * ------------------------------------------------------------------- */

void http_date_format(char out[HTTP_DATE_LEN], int64_t t)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed",
                                    "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr",
                                       "May", "Jun", "Jul", "Aug",
                                       "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    time_t tt = (time_t)t;
    if (gmtime_r(&tt, &tm) == NULL) {
        tt = 0;
        gmtime_r(&tt, &tm);
    }
    /* by hand: strftime's names follow the locale */
    snprintf(out, HTTP_DATE_LEN, "%s, %02d %s %04d %02d:%02d:%02d GMT",
             days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
             (tm.tm_year + 1900) % 10000, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int http_date_parse(const char *s, int64_t *out)
{
    static const char *formats[] = {
        "%a, %d %b %Y %H:%M:%S GMT", /* IMF-fixdate */
        "%A, %d-%b-%y %H:%M:%S GMT", /* RFC 850 */
        "%a %b %e %H:%M:%S %Y",      /* asctime */
    };
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        const char *end = strptime(s, formats[i], &tm);
        if (end == NULL || *end != '\0')
            continue;
        *out = (int64_t)timegm(&tm);
        return 0;
    }
    return -1;
}
