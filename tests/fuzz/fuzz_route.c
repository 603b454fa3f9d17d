/*
 * fuzz_route.c - libFuzzer target for server/http_util.h: the request line
 * parts elvesd decodes before any route runs.
 *
 * The input is taken as a request target, "path?query": the path is matched
 * against some of the server's route patterns, the query parsed, the whole
 * input percent-decoded (raw bytes, NULs included), checked as a file path
 * and as UTF-8, and parsed as an HTTP date.  Aborts when:
 *   - a route matches with captures that do not give back the path, or
 *     reports bad encoding for a path with no '%';
 *   - a query parses into pairs it cannot look up, or fails and keeps some;
 *   - a decode result is not a NUL-free string shorter than cap, or depends
 *     on cap other than by fitting or not, or '+' changes more than spaces;
 *   - http_path_problem or http_utf8_valid disagree with the plain
 *     reference checks below;
 *   - a date that parses does not come back the same through
 *     http_date_format.
 * Seeds are in tests/fuzz/seeds/route/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_util.h"

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_route:%d: check failed: %s\n", __LINE__,     \
                    #cond);                                                    \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* Last second of the year 9999: beyond it an IMF-fixdate has no room. */
#define DATE_MAX INT64_C(253402300799)

/* As in routes_native.c and routes_hf.c. */
static const char *const patterns[] = {
    "/api/v1/repos/{org}/{name}/files/{path*}",
    "/api/models/{org}/{name}/tree/{rev}/{path*}",
    "/{org}/{name}/resolve/{rev}/{path*}",
    "/datasets/{org}/{name}/raw/{rev}/{path*}",
    "/hf-lfs/upload/{org}/{name}/{oid}/{size}/{exp}/{sig}",
    "/api/v1/jobs/{id}",
    "/api/models/{org}/{name}",
    "/api/v1/stats",
};

static char *dup_n(const char *s, size_t len)
{
    char *out = malloc(len + 1);
    CHECK(out != NULL);
    memcpy(out, s, len);
    out[len] = '\0';
    return out;
}

/* The pattern with each {capture} replaced by its value: with no '%' in
 * the path nothing is decoded, so this is the path again. */
static char *rebuild(const char *pattern, const http_params *p)
{
    size_t cap = strlen(pattern) + 1;
    for (size_t i = 0; i < p->n; i++)
        cap += strlen(p->kv[i].value);
    char *out = malloc(cap);
    CHECK(out != NULL);
    size_t o = 0;
    for (const char *s = pattern; *s;) {
        if (*s != '{') {
            out[o++] = *s++;
            continue;
        }
        const char *close = strchr(s, '}');
        size_t nlen = (size_t)(close - s - 1);
        if (close[-1] == '*')
            nlen--;
        char *name = dup_n(s + 1, nlen);
        const char *v = http_params_get(p, name);
        CHECK(v != NULL && v[0] != '\0');
        memcpy(out + o, v, strlen(v));
        o += strlen(v);
        free(name);
        s = close + 1;
    }
    out[o] = '\0';
    return out;
}

static size_t count_char(const char *s, char c)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == c;
    return n;
}

static void check_routes(const char *path)
{
    for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++) {
        http_params p;
        int r = http_route_match(patterns[i], path, &p);
        CHECK(r == 1 || r == 0 || r == -1);
        if (r != 1) {
            CHECK(p.n == 0);
            if (r == -1)
                CHECK(strchr(path, '%') != NULL);
            continue;
        }
        CHECK(p.n == count_char(patterns[i], '{'));
        if (p.n == 0)
            CHECK(strcmp(patterns[i], path) == 0);
        char *again = rebuild(patterns[i], &p);
        if (strchr(path, '%') == NULL)
            CHECK(strcmp(again, path) == 0);
        free(again);
        http_params_free(&p);
        CHECK(p.n == 0);
    }
}

static void check_query(const char *raw)
{
    http_query q;
    int r = http_query_parse(&q, raw);
    CHECK(r == 0 || r == -1);
    if (r != 0) {
        CHECK(q.n == 0 && q.kv == NULL);
        return;
    }
    CHECK(q.n <= HTTP_MAX_QUERY_PAIRS && q.n <= count_char(raw, '&') + 1);
    for (size_t i = 0; i < q.n; i++) {
        const char *v = http_query_get(&q, q.kv[i].key);
        size_t first = 0;
        while (strcmp(q.kv[first].key, q.kv[i].key) != 0)
            first++;
        CHECK(v == q.kv[first].value);
    }
    http_query_free(&q);
    CHECK(q.n == 0 && q.kv == NULL);
}

/* Decodes in[0..len) with room for cap bytes; out is exactly cap bytes. */
static ssize_t decode(char **out, size_t cap, const char *in, size_t len,
                      int plus)
{
    *out = malloc(cap ? cap : 1);
    CHECK(*out != NULL);
    ssize_t r = http_pct_decode(*out, cap, in, len, plus);
    CHECK(r >= -1);
    if (r >= 0) {
        CHECK((size_t)r < cap && (size_t)r <= len);
        CHECK((*out)[r] == '\0' && memchr(*out, '\0', (size_t)r) == NULL);
    }
    return r;
}

static void check_decode(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    char *a, *b, *c;
    ssize_t ra = decode(&a, size + 1, in, size, 0); /* always room */
    ssize_t rb = decode(&b, size + 1, in, size, 1);
    CHECK((ra < 0) == (rb < 0));
    if (memchr(data, '\0', size) != NULL)
        CHECK(ra == -1);
    if (ra < 0) {
        free(a);
        free(b);
        return;
    }
    CHECK(ra == rb);
    for (ssize_t i = 0; i < ra; i++)
        CHECK(a[i] == b[i] || (a[i] == '+' && b[i] == ' '));

    /* Fits exactly with cap = length + 1, and not with one byte less. */
    CHECK(decode(&c, (size_t)ra + 1, in, size, 0) == ra);
    CHECK(memcmp(a, c, (size_t)ra + 1) == 0);
    free(c);
    CHECK(decode(&c, (size_t)ra, in, size, 0) == -1);
    free(c);
    free(a);
    free(b);
}

/* Reference UTF-8 check, after the Unicode standard's table 3-7 of
 * well-formed byte sequences. */
static int utf8_ok(const unsigned char *s)
{
    while (*s) {
        unsigned c = s[0], lo = 0x80, hi = 0xbf;
        size_t n;
        if (c < 0x80) {
            s++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            n = 1;
        else if (c >= 0xe0 && c <= 0xef)
            n = 2, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
        else if (c >= 0xf0 && c <= 0xf4)
            n = 3, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
        else
            return 0;
        if (s[1] < lo || s[1] > hi)
            return 0;
        for (size_t i = 2; i <= n; i++)
            if (s[i] < 0x80 || s[i] > 0xbf)
                return 0;
        s += n + 1;
    }
    return 1;
}

/* Reference for http_path_problem: whether path would be accepted. */
static int path_ok(const char *path)
{
    size_t len = strlen(path);
    if (len == 0 || len > HTTP_PATH_MAX || path[0] == '/')
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c == '\\' || c < 0x20 || c == 0x7f)
            return 0;
    }
    if (!utf8_ok((const unsigned char *)path))
        return 0;
    for (const char *s = path;; s++) {
        size_t n = strcspn(s, "/");
        if (n == 0 || (n == 1 && s[0] == '.') ||
            (n == 2 && s[0] == '.' && s[1] == '.'))
            return 0;
        s += n;
        if (*s == '\0')
            return 1;
    }
}

static void check_path(const char *path)
{
    const char *why = http_path_problem(path);
    CHECK(why == NULL || why[0] != '\0');
    CHECK((why == NULL) == path_ok(path));
}

static void check_date(const char *s)
{
    int64_t t, again;
    char buf[HTTP_DATE_LEN];
    if (http_date_parse(s, &t) != 0 || t < 0 || t > DATE_MAX)
        return;
    http_date_format(buf, t);
    CHECK(memchr(buf, '\0', sizeof buf) != NULL);
    CHECK(http_date_parse(buf, &again) == 0 && again == t);
}

/* Any int64 formats into the buffer; a sane one comes back. */
static void check_date_format(const uint8_t *data, size_t size)
{
    int64_t t = 0;
    char buf[HTTP_DATE_LEN], again_buf[HTTP_DATE_LEN];
    memcpy(&t, data, size < sizeof t ? size : sizeof t);
    memset(buf, 0x55, sizeof buf);
    http_date_format(buf, t);
    CHECK(memchr(buf, '\0', sizeof buf) != NULL);
    if (t < 0 || t > DATE_MAX)
        return;
    int64_t again;
    CHECK(http_date_parse(buf, &again) == 0 && again == t);
    http_date_format(again_buf, again);
    CHECK(strcmp(buf, again_buf) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = dup_n((const char *)data, size); /* cut at a NUL, if any */
    const char *q = strchr(s, '?');
    char *path = dup_n(s, q ? (size_t)(q - s) : strlen(s));

    check_routes(path);
    check_query(q ? q + 1 : s);
    check_decode(data, size);
    check_path(s);
    char *decoded = malloc(strlen(path) + 1);
    CHECK(decoded != NULL);
    const char *rel = path[0] == '/' ? path + 1 : path;
    if (http_pct_decode(decoded, strlen(path) + 1, rel, strlen(rel), 0) >= 0)
        check_path(decoded);
    CHECK(http_utf8_valid(s) == utf8_ok((const unsigned char *)s));
    check_date(s);
    check_date_format(data, size);

    free(decoded);
    free(path);
    free(s);
    return 0;
}
