/*
 * download.c - GET/HEAD of a file version: validators, conditional
 * requests, ranges, and the streamed body (see download.h).
 *
 * The body is described as a list of pieces, each either literal text (the
 * part headers of multipart/byteranges) or a byte range of the file; one
 * reader callback walks the list, so a plain 200, a 206 and a multipart
 * answer are the same code.
 */
#include "download.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "log.h"
#include "range.h"

#define MAX_PIECES (2 * RANGE_MAX + 1)
#define PART_HEADER_MAX 192

typedef struct dl_piece {
    const char *text; /* literal bytes, or NULL for file bytes */
    uint64_t off;     /* file offset (file pieces) */
    uint64_t len;
} dl_piece;

typedef struct dl_stream {
    store_reader *reader;
    http_req *req; /* for byte counting; used only inside callbacks */
    size_t npieces;
    dl_piece pieces[MAX_PIECES];
    uint64_t total;
    size_t cur;         /* piece the last read ended in */
    uint64_t cur_start; /* stream offset where pieces[cur] starts */
    char *text;         /* storage for literal pieces */
} dl_stream;

/* Finds the piece holding stream offset pos, moving the cursor. */
static const dl_piece *seek_piece(dl_stream *s, uint64_t pos, uint64_t *in)
{
    if (pos < s->cur_start) {
        s->cur = 0;
        s->cur_start = 0;
    }
    while (s->cur < s->npieces && pos >= s->cur_start + s->pieces[s->cur].len) {
        s->cur_start += s->pieces[s->cur].len;
        s->cur++;
    }
    if (s->cur == s->npieces)
        return NULL;
    *in = pos - s->cur_start;
    return &s->pieces[s->cur];
}

static ssize_t dl_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    dl_stream *s = cls;
    uint64_t in;
    const dl_piece *p = seek_piece(s, pos, &in);
    if (p == NULL)
        return MHD_CONTENT_READER_END_OF_STREAM;
    uint64_t left = p->len - in;
    size_t n = left < max ? (size_t)left : max;
    if (p->text != NULL) {
        memcpy(buf, p->text + in, n);
    } else {
        es_err err = {0};
        size_t got = 0;
        if (store_reader_read(s->reader, p->off + in, (uint8_t *)buf, n, &got,
                              &err) != 0 ||
            got == 0) {
            log_msg(
                LOG_LVL_ERROR, "download stopped at byte %" PRIu64 ": %s", pos,
                got == 0 && err.msg[0] == 0 ? "early end of file" : err.msg);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        n = got;
    }
    http_count_bytes(s->req, n);
    return (ssize_t)n;
}

static void dl_free(void *cls)
{
    dl_stream *s = cls;
    if (s->reader != NULL)
        store_reader_close(s->reader);
    free(s->text);
    free(s);
}

static void add_piece(dl_stream *s, const char *text, uint64_t off,
                      uint64_t len)
{
    s->pieces[s->npieces++] = (dl_piece){text, off, len};
    s->total += len;
}

static void random_boundary(char out[33])
{
    uint8_t rnd[16];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        uint64_t t = (uint64_t)(uintptr_t)out ^ (uint64_t)time(NULL);
        memcpy(rnd, &t, sizeof t);
        memcpy(rnd + 8, &t, sizeof t);
    }
    elves_hex(out, rnd, sizeof rnd);
}

/* Lays out multipart/byteranges: per span a part header then its bytes,
 * then the closing delimiter. */
static int plan_multipart(dl_stream *s, const range_span *spans, size_t n,
                          uint64_t size, const char *boundary)
{
    s->text = malloc((n + 1) * PART_HEADER_MAX);
    if (s->text == NULL)
        return -1;
    char *t = s->text;
    for (size_t i = 0; i < n; i++) {
        int len = snprintf(t, PART_HEADER_MAX,
                           "\r\n--%s\r\nContent-Type: application/octet-stream"
                           "\r\nContent-Range: bytes %" PRIu64 "-%" PRIu64
                           "/%" PRIu64 "\r\n\r\n",
                           boundary, spans[i].first, spans[i].last, size);
        add_piece(s, t, 0, (uint64_t)len);
        add_piece(s, NULL, spans[i].first, spans[i].last - spans[i].first + 1);
        t += len + 1;
    }
    int len = snprintf(t, PART_HEADER_MAX, "\r\n--%s--\r\n", boundary);
    add_piece(s, t, 0, (uint64_t)len);
    return 0;
}

typedef struct dl_headers {
    char etag[70];
    char last_modified[HTTP_DATE_LEN];
    const store_file *f;
    download_headers_fn extra;
    void *ctx;
} dl_headers;

static void add_common_headers(struct MHD_Response *r, const dl_headers *h)
{
    MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, h->etag);
    MHD_add_response_header(r, MHD_HTTP_HEADER_LAST_MODIFIED, h->last_modified);
    MHD_add_response_header(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
    if (h->f->commit[0] != '\0')
        MHD_add_response_header(r, "X-Repo-Commit", h->f->commit);
    if (h->extra != NULL)
        h->extra(r, h->ctx);
}

/* If-None-Match wins over If-Modified-Since (RFC 7232 6). */
static int not_modified(http_req *req, const dl_headers *h)
{
    const char *inm = http_header(req, MHD_HTTP_HEADER_IF_NONE_MATCH);
    if (inm != NULL)
        return range_etag_list_match(inm, h->etag);
    const char *ims = http_header(req, MHD_HTTP_HEADER_IF_MODIFIED_SINCE);
    int64_t t;
    return ims != NULL && http_date_parse(ims, &t) == 0 && h->f->mtime <= t;
}

static ssize_t no_body(void *cls, uint64_t pos, char *buf, size_t max)
{
    return MHD_CONTENT_READER_END_OF_STREAM;
}

/* A 304 may carry Content-Length only if it is the 200's (RFC 7230
 * 3.3.2).  A response "of" the file's size that libmicrohttpd never reads
 * (it sends no body with 304) gets it right. */
static void respond_304(http_req *req, const dl_headers *h)
{
    struct MHD_Response *r =
        MHD_create_response_from_callback(h->f->size, 64, no_body, NULL, NULL);
    if (r != NULL)
        add_common_headers(r, h);
    http_respond(req, 304, r);
}

static void respond_416(http_req *req, const dl_headers *h)
{
    char cr[64];
    snprintf(cr, sizeof cr, "bytes */%" PRIu64, h->f->size);
    char msg[96];
    snprintf(msg, sizeof msg,
             "range not satisfiable: the file has %" PRIu64 " bytes",
             h->f->size);
    struct MHD_Response *r = http_error_response(req, msg);
    if (r != NULL) {
        add_common_headers(r, h);
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
    }
    http_respond(req, 416, r);
}

/* Which spans to send: 0 = whole file; -1 = answered 416. */
static int choose_ranges(http_req *req, const dl_headers *h,
                         range_span spans[RANGE_MAX], size_t *n)
{
    *n = 0;
    const char *range = http_header(req, MHD_HTTP_HEADER_RANGE);
    if (range == NULL ||
        !range_if_range_ok(http_header(req, MHD_HTTP_HEADER_IF_RANGE), h->etag,
                           h->f->mtime))
        return 0;
    range_result rr = range_parse(range, h->f->size, spans, n);
    if (rr == RANGE_UNSATISFIABLE) {
        respond_416(req, h);
        return -1;
    }
    if (rr == RANGE_FULL)
        *n = 0;
    return 0;
}

/* libmicrohttpd allocates and zeroes the buffer with every response: no
 * more than the body needs (small files are served often). */
static size_t buffer_size(uint64_t total)
{
    if (total >= DOWNLOAD_BLOCK)
        return DOWNLOAD_BLOCK;
    return total < 4096 ? 4096 : (size_t)total;
}

static dl_stream *open_stream(http_req *req, es_store *st, const store_file *f,
                              es_err *err)
{
    dl_stream *s = calloc(1, sizeof *s);
    if (s == NULL) {
        es_errf(err, 500, "out of memory");
        return NULL;
    }
    s->req = req;
    if (!http_is_head(req) && f->size > 0 &&
        store_reader_open(st, f, &s->reader, err) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

void download_serve(http_req *req, es_store *st, const store_file *f,
                    download_headers_fn extra, void *ctx)
{
    dl_headers h = {.f = f, .extra = extra, .ctx = ctx};
    range_span spans[RANGE_MAX];
    size_t n;
    char boundary[33] = "";
    char content_range[96] = "";
    es_err err = {0};

    snprintf(h.etag, sizeof h.etag, "\"%s\"", f->sha256);
    http_date_format(h.last_modified, f->mtime);
    if (not_modified(req, &h)) {
        respond_304(req, &h);
        return;
    }
    if (choose_ranges(req, &h, spans, &n) != 0)
        return;
    dl_stream *s = open_stream(req, st, f, &err);
    if (s == NULL) {
        http_respond_err(req, &err);
        return;
    }
    if (n == 0) {
        add_piece(s, NULL, 0, f->size);
    } else if (n == 1) {
        add_piece(s, NULL, spans[0].first, spans[0].last - spans[0].first + 1);
        snprintf(content_range, sizeof content_range,
                 "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, spans[0].first,
                 spans[0].last, f->size);
    } else {
        random_boundary(boundary);
        if (plan_multipart(s, spans, n, f->size, boundary) != 0) {
            dl_free(s);
            http_respond_error(req, 500, "out of memory");
            return;
        }
    }
    struct MHD_Response *r = MHD_create_response_from_callback(
        s->total, buffer_size(s->total), dl_read, s, dl_free);
    if (r == NULL) {
        dl_free(s);
        http_respond_error(req, 500, "out of memory");
        return;
    }
    add_common_headers(r, &h);
    if (boundary[0] != '\0') {
        char ct[96];
        snprintf(ct, sizeof ct, "multipart/byteranges; boundary=%s", boundary);
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ct);
    } else {
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                "application/octet-stream");
    }
    if (content_range[0] != '\0')
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE,
                                content_range);
    http_respond(req, n == 0 ? 200 : 206, r);
}
