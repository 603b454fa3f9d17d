/*
 * range.c - Range, If-Range and entity-tag list parsing (see range.h).
 */
#include "range.h"

#include <string.h>
#include <strings.h>

#include "http_util.h"

static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Reads 1+ digits, saturating at UINT64_MAX (a huge first byte is past
 * any end; a huge last byte clamps).  Returns the end, or NULL if none. */
static const char *read_u64(const char *p, uint64_t *out)
{
    uint64_t v = 0;
    const char *start = p;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
    }
    *out = v;
    return p == start ? NULL : p;
}

typedef enum spec_result { SPEC_OK, SPEC_DROP, SPEC_BAD } spec_result;

/* One byte-range-spec at *pp: "a-b", "a-" or "-n".  Advances *pp. */
static spec_result parse_spec(const char **pp, uint64_t size, range_span *out)
{
    const char *p = *pp;
    uint64_t a, b;

    if (*p == '-') { /* suffix: the last n bytes */
        p = read_u64(p + 1, &b);
        if (p == NULL)
            return SPEC_BAD;
        *pp = p;
        if (b == 0)
            return SPEC_DROP;
        out->first = b >= size ? 0 : size - b;
        out->last = size - 1;
        return SPEC_OK;
    }
    p = read_u64(p, &a);
    if (p == NULL || *p != '-')
        return SPEC_BAD;
    p++;
    const char *q = read_u64(p, &b);
    if (q == NULL)
        b = UINT64_MAX; /* "a-": to the end */
    else if (b < a)
        return SPEC_BAD;
    else
        p = q;
    *pp = p;
    if (a >= size)
        return SPEC_DROP;
    out->first = a;
    out->last = b >= size ? size - 1 : b;
    return SPEC_OK;
}

static range_result parse_specs(const char *header, uint64_t size,
                                range_span out[RANGE_MAX], size_t *n)
{
    size_t specs = 0;
    *n = 0;
    if (header == NULL || size == 0)
        return RANGE_FULL;
    const char *p = skip_ows(header);
    if (strncasecmp(p, "bytes", 5) != 0)
        return RANGE_FULL;
    p = skip_ows(p + 5);
    if (*p != '=')
        return RANGE_FULL;
    p++;
    for (;;) {
        p = skip_ows(p);
        if (*p == ',') { /* empty list element */
            p++;
            continue;
        }
        if (*p == '\0')
            break;
        if (specs == RANGE_MAX)
            return RANGE_FULL;
        specs++;
        spec_result r = parse_spec(&p, size, &out[*n]);
        if (r == SPEC_BAD)
            return RANGE_FULL;
        if (r == SPEC_OK)
            (*n)++;
        p = skip_ows(p);
        if (*p != ',' && *p != '\0')
            return RANGE_FULL;
    }
    if (specs == 0)
        return RANGE_FULL;
    if (*n == 0)
        return RANGE_UNSATISFIABLE;
    return RANGE_PARTIAL;
}

range_result range_parse(const char *header, uint64_t size,
                         range_span out[RANGE_MAX], size_t *n)
{
    range_result r = parse_specs(header, size, out, n);
    if (r != RANGE_PARTIAL)
        *n = 0;
    return r;
}

int range_if_range_ok(const char *if_range, const char *etag, int64_t mtime)
{
    if (if_range == NULL)
        return 1;
    const char *p = skip_ows(if_range);
    if (p[0] == 'W' && p[1] == '/')
        return 0; /* weak tags never validate a range */
    if (p[0] == '"') {
        size_t elen = strlen(etag); /* compare first: p may be shorter */
        return strncmp(p, etag, elen) == 0 && *skip_ows(p + elen) == '\0';
    }
    int64_t t;
    return http_date_parse(p, &t) == 0 && t == mtime;
}

/* Compares the opaque part ("...") at p with etag; advances *pp past it.
 * Returns 1 equal, 0 not, -1 malformed. */
static int next_tag_equals(const char **pp, const char *etag)
{
    const char *p = *pp;
    if (p[0] == 'W' && p[1] == '/')
        p += 2;
    if (*p != '"')
        return -1;
    const char *close = strchr(p + 1, '"');
    if (close == NULL)
        return -1;
    size_t len = (size_t)(close - p) + 1;
    *pp = close + 1;
    return strlen(etag) == len && memcmp(p, etag, len) == 0;
}

int range_etag_list_match(const char *header, const char *etag)
{
    if (header == NULL)
        return 0;
    const char *p = skip_ows(header);
    if (p[0] == '*')
        return *skip_ows(p + 1) == '\0';
    for (;;) {
        p = skip_ows(p);
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == '\0')
            return 0;
        int r = next_tag_equals(&p, etag);
        if (r != 0)
            return r == 1;
        p = skip_ows(p);
        if (*p != ',' && *p != '\0')
            return 0;
    }
}
