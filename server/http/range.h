/*
 * range.h - partial and conditional GET rules (RFC 7232, RFC 7233) as pure
 * functions: the Range header, If-Range, and entity-tag lists for
 * If-None-Match.
 *
 * Choices made here (documented in api.md):
 *   - a Range header that is not "bytes=..." or is syntactically invalid
 *     is ignored: the whole file is served with 200 (RFC 7233 3.1 allows it);
 *   - more than RANGE_MAX ranges in one header: ignored the same way;
 *   - specs that start past the end are dropped; if none is left the answer
 *     is 416 with a Content-Range that gives only the size (RFC 7233 4.4);
 *   - an empty file ignores Range (200, empty body): no range of it can be
 *     satisfied, and clients probing with "bytes=0-0" cope better with 200.
 */
#ifndef ELVESD_RANGE_H
#define ELVESD_RANGE_H

#include <stddef.h>
#include <stdint.h>

#define RANGE_MAX 16

/* Bytes first..last, both inclusive, both < the file size. */
typedef struct range_span {
    uint64_t first;
    uint64_t last;
} range_span;

typedef enum range_result {
    RANGE_FULL = 0,     /* serve the whole file (no or ignored Range) */
    RANGE_PARTIAL,      /* serve *n spans (206) */
    RANGE_UNSATISFIABLE /* 416 */
} range_result;

/* Parses a Range header value (NULL: none) for a file of `size` bytes.
 * On RANGE_PARTIAL, out[0..*n) hold the satisfiable spans in request order,
 * the last byte clamped to size-1. */
range_result range_parse(const char *header, uint64_t size,
                         range_span out[RANGE_MAX], size_t *n);

/* Whether a Range should be honoured given If-Range (NULL: no If-Range):
 * 1 if it is absent, or is a strong entity-tag equal to etag (quoted, as
 * sent in ETag), or an HTTP date equal to mtime; else 0 (serve 200). */
int range_if_range_ok(const char *if_range, const char *etag, int64_t mtime);

/* Whether an If-None-Match / If-Match value matches etag (quoted): "*", or
 * a list with an entity-tag equal to it under weak comparison ("W/" ignored).
 * Malformed lists match nothing. */
int range_etag_list_match(const char *header, const char *etag);

#endif /* ELVESD_RANGE_H */
