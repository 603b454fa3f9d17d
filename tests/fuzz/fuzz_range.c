/*
 * fuzz_range.c - libFuzzer target for server/range.h: the Range header,
 * If-Range and entity-tag lists, on hostile header values.
 *
 * The input is text, one field a line (a missing line is an absent header):
 *   1. the file size, decimal (saturates at UINT64_MAX; no digits: 0)
 *   2. the Range header
 *   3. the If-Range header
 *   4. the ETag ("" or absent: a real one, '"' + 64 hex digits + '"')
 *   5. the file's mtime, decimal, maybe negative
 * Each field is its own malloc'd, NUL-terminated copy of exactly its length,
 * so ASan sees any read past the end of a header.
 *
 * Aborts if range_parse returns spans a 206 cannot serve (empty, more than
 * RANGE_MAX, out of order within a span, past the end of the file), or
 * anything but RANGE_FULL for an empty file or no header; if If-Range
 * rejects the file's own ETag or Last-Modified date, or accepts a weak tag;
 * if an entity-tag list does not match the tag itself, "W/" + the tag, or
 * "*".  Seeds are in tests/fuzz/seeds/range/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_util.h"
#include "range.h"

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_range:%d: check failed: %s\n", __LINE__,     \
                    #cond);                                                    \
            abort();                                                           \
        }                                                                      \
    } while (0)

#define NFIELDS 5

/* Last second of the year 9999: beyond it an IMF-fixdate has no room. */
#define DATE_MAX INT64_C(253402300799)

static const char default_etag[] =
    "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"";

typedef struct fields {
    char *f[NFIELDS]; /* NULL: the line is missing */
} fields;

static void fields_split(fields *out, const uint8_t *data, size_t size)
{
    size_t pos = 0;
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < NFIELDS && pos <= size; i++) {
        const uint8_t *nl = memchr(data + pos, '\n', size - pos);
        size_t len = nl ? (size_t)(nl - (data + pos)) : size - pos;
        out->f[i] = malloc(len + 1);
        CHECK(out->f[i] != NULL);
        memcpy(out->f[i], data + pos, len);
        out->f[i][len] = '\0';
        pos += len + 1;
    }
}

static void fields_free(fields *f)
{
    for (size_t i = 0; i < NFIELDS; i++)
        free(f->f[i]);
}

static uint64_t parse_u64(const char *s)
{
    uint64_t v = 0;
    for (; s != NULL && *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
    }
    return v;
}

static int64_t parse_i64(const char *s)
{
    int neg = s != NULL && *s == '-';
    uint64_t v = parse_u64(neg ? s + 1 : s);
    if (v > INT64_MAX)
        v = INT64_MAX;
    return neg ? -(int64_t)v : (int64_t)v;
}

/* A private copy, so a read past its end is caught. */
static char *dup_exact(const char *s)
{
    size_t len = strlen(s);
    char *out = malloc(len + 1);
    CHECK(out != NULL);
    memcpy(out, s, len + 1);
    return out;
}

static size_t count_char(const char *s, char c)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == c;
    return n;
}

static void check_range(const char *header, uint64_t size)
{
    range_span spans[RANGE_MAX];
    size_t n = 12345;
    range_result r = range_parse(header, size, spans, &n);

    CHECK(r == RANGE_FULL || r == RANGE_PARTIAL || r == RANGE_UNSATISFIABLE);
    if (header == NULL || size == 0)
        CHECK(r == RANGE_FULL); /* an empty file ignores Range */
    if (r != RANGE_PARTIAL) {
        CHECK(n == 0);
        return;
    }
    CHECK(n > 0 && n <= RANGE_MAX);
    CHECK(n <= count_char(header, ',') + 1); /* at most one span a spec */
    for (size_t i = 0; i < n; i++)
        CHECK(spans[i].first <= spans[i].last && spans[i].last < size);
}

/* A strong tag as ETag sends it: '"', no other '"', '"'. */
static int strong_tag(const char *etag)
{
    size_t len = strlen(etag);
    return len >= 2 && etag[0] == '"' && etag[len - 1] == '"' &&
           memchr(etag + 1, '"', len - 2) == NULL;
}

static void check_if_range(const char *if_range, const char *etag,
                           int64_t mtime)
{
    int ok = range_if_range_ok(if_range, etag, mtime);
    CHECK(ok == 0 || ok == 1);
    if (if_range == NULL) {
        CHECK(ok == 1);
        return;
    }
    const char *p = if_range + strspn(if_range, " \t");
    if (p[0] == 'W' && p[1] == '/')
        CHECK(ok == 0); /* weak tags never validate a range */

    /* The file's own validators always do. */
    if (etag[0] == '"') {
        char *own = dup_exact(etag);
        CHECK(range_if_range_ok(own, etag, mtime) == 1);
        free(own);
    }
    if (mtime >= 0 && mtime <= DATE_MAX) {
        char date[HTTP_DATE_LEN];
        http_date_format(date, mtime);
        char *own = dup_exact(date);
        CHECK(range_if_range_ok(own, etag, mtime) == 1);
        free(own);
    }
}

static void check_etag_list(const char *header, const char *etag)
{
    int m = range_etag_list_match(header, etag);
    CHECK(m == 0 || m == 1);
    if (header == NULL)
        CHECK(m == 0);
    CHECK(range_etag_list_match("*", etag) == 1);
    if (!strong_tag(etag))
        return;
    char *own = dup_exact(etag);
    CHECK(range_etag_list_match(own, etag) == 1);
    free(own);
    size_t len = strlen(etag);
    char *weak = malloc(len + 3);
    CHECK(weak != NULL);
    memcpy(weak, "W/", 2);
    memcpy(weak + 2, etag, len + 1);
    CHECK(range_etag_list_match(weak, etag) == 1);
    free(weak);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fields f;
    fields_split(&f, data, size);

    uint64_t file_size = parse_u64(f.f[0]);
    const char *etag =
        f.f[3] != NULL && f.f[3][0] != '\0' ? f.f[3] : default_etag;
    int64_t mtime = parse_i64(f.f[4]);

    check_range(f.f[1], file_size);
    check_range(f.f[1], 0);
    check_if_range(f.f[2], etag, mtime);
    check_etag_list(f.f[2], etag);
    check_etag_list(f.f[1], etag);

    fields_free(&f);
    return 0;
}
