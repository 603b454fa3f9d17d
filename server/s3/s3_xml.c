/*
 * s3_xml.c - the little XML reading S3's answers need: elements found by
 * name, text entity-decoded, attributes skipped (S3 sends no CDATA), and
 * the pages of ListObjectsV2 and ListMultipartUploads.  Kept apart from
 * the requests so that tests/fuzz/fuzz_s3_xml.c can feed it any bytes.
 */
#define _GNU_SOURCE /* strptime, timegm */
#include "s3_xml.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The value of a decimal (or, if hex, hexadecimal) digit; -1 if not one. */
static int hex_or_dec_digit(char c, int hex)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (hex && c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (hex && c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes the entities of in[0..n) into out (cap); -1 if it does not fit
 * or an entity is unknown. */
int s3_xml_decode(const char *in, size_t n, char *out, size_t cap)
{
    static const struct {
        const char *name;
        char c;
    } ents[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'},
                {"quot;", '"'}, {"apos;", '\''}};
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (c == '&') {
            size_t k = 0, left = n - i - 1;
            for (; k < sizeof ents / sizeof ents[0]; k++) {
                size_t el = strlen(ents[k].name);
                if (left >= el && memcmp(in + i + 1, ents[k].name, el) == 0) {
                    c = ents[k].c;
                    i += el;
                    break;
                }
            }
            if (k == sizeof ents / sizeof ents[0]) {
                /* &#NN; / &#xNN; (ASCII only: S3 keys here are ASCII),
                 * read within in[0..n): it need not be NUL-terminated */
                size_t k2 = i + 1;
                if (k2 >= n || in[k2] != '#')
                    return -1;
                int hex = ++k2 < n && in[k2] == 'x';
                k2 += (size_t)hex;
                long v = 0;
                size_t digits = 0;
                for (; k2 < n && in[k2] != ';' && digits < 4; k2++, digits++) {
                    int d = hex_or_dec_digit(in[k2], hex);
                    if (d < 0)
                        return -1;
                    v = v * (hex ? 16 : 10) + d;
                }
                if (digits == 0 || k2 >= n || in[k2] != ';' || v <= 0 ||
                    v > 127)
                    return -1;
                c = (char)v;
                i = k2;
            }
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = c;
    }
    if (cap == 0)
        return -1;
    out[o] = '\0';
    return 0;
}

/* Finds the element <tag> in [p, end): *in and *in_len get its content.
 * Returns the position after its end tag, or NULL if there is none. */
const char *s3_xml_find(const char *p, const char *end, const char *tag,
                        const char **in, size_t *in_len)
{
    size_t tl = strlen(tag);
    while (p < end) {
        const char *lt = memchr(p, '<', (size_t)(end - p));
        if (!lt || (size_t)(end - lt) < tl + 2)
            return NULL;
        p = lt + 1;
        if (memcmp(p, tag, tl) != 0 ||
            (p[tl] != '>' && p[tl] != ' ' && p[tl] != '/'))
            continue;
        const char *gt = memchr(p, '>', (size_t)(end - p));
        if (!gt)
            return NULL;
        if (gt[-1] == '/') { /* <tag/> */
            *in = gt;
            *in_len = 0;
            return gt + 1;
        }
        const char *c = gt + 1;
        for (const char *q = c; q < end;) {
            const char *lt2 = memchr(q, '<', (size_t)(end - q));
            if (!lt2 || (size_t)(end - lt2) < tl + 3)
                return NULL;
            if (lt2[1] == '/' && memcmp(lt2 + 2, tag, tl) == 0 &&
                lt2[2 + tl] == '>') {
                *in = c;
                *in_len = (size_t)(lt2 - c);
                return lt2 + tl + 3;
            }
            q = lt2 + 1;
        }
        return NULL;
    }
    return NULL;
}

/* The decoded text of the first <tag> in [p, end) into out; -1 if absent
 * or too long. */
int s3_xml_text(const char *p, const char *end, const char *tag, char *out,
                size_t cap)
{
    const char *in;
    size_t n;
    if (!s3_xml_find(p, end, tag, &in, &n))
        return -1;
    return s3_xml_decode(in, n, out, cap);
}

/* ---- list pages ------------------------------------------------------------ */

/* "2026-12-03T20:01:02.000Z" as unix seconds; 0 if it is not that. */
static int64_t iso8601_seconds(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == NULL)
        return 0;
    time_t t = timegm(&tm);
    return t < 0 ? 0 : (int64_t)t;
}

int s3_xml_list_page(const char *text, size_t len,
                     int (*fn)(void *, const s3_object *), void *ctx,
                     char *token, size_t tcap, es_err *err)
{
    const char *p = text, *end = text + len;
    if (!s3_xml_find(p, end, "ListBucketResult", &p, &(size_t){0}))
        return es_errf(err, 500, "S3 list: no ListBucketResult in answer");
    const char *in;
    size_t n;
    const char *next;
    while ((next = s3_xml_find(p, end, "Contents", &in, &n)) != NULL) {
        char key[1024], size[32], modified[64] = "";
        char *e;
        if (s3_xml_text(in, in + n, "Key", key, sizeof key) < 0 ||
            s3_xml_text(in, in + n, "Size", size, sizeof size) < 0)
            return es_errf(err, 500, "S3 list: a Contents without Key/Size");
        unsigned long long sz = strtoull(size, &e, 10);
        if (e == size || *e != '\0')
            return es_errf(err, 500, "S3 list: bad Size '%s'", size);
        s3_xml_text(in, in + n, "LastModified", modified, sizeof modified);
        s3_object o = {key, sz, iso8601_seconds(modified)};
        int rc = fn(ctx, &o);
        if (rc != 0)
            return rc;
        p = next;
    }
    char trunc[8] = "";
    s3_xml_text(text, end, "IsTruncated", trunc, sizeof trunc);
    token[0] = '\0';
    if (strcmp(trunc, "true") == 0 &&
        (s3_xml_text(text, end, "NextContinuationToken", token, tcap) < 0 ||
         !*token))
        return es_errf(err, 500, "S3 list: truncated without a token");
    return 0;
}

int s3_xml_uploads_page(const char *text, size_t len,
                        int (*fn)(void *, const s3_upload *), void *ctx,
                        char *key_marker, char *id_marker, size_t cap,
                        es_err *err)
{
    const char *p = text, *end = text + len;
    if (!s3_xml_find(p, end, "ListMultipartUploadsResult", &p, &(size_t){0}))
        return es_errf(err, 500,
                       "S3 list uploads: no ListMultipartUploadsResult");
    const char *in, *next;
    size_t n;
    while ((next = s3_xml_find(p, end, "Upload", &in, &n)) != NULL) {
        char key[1024], id[512];
        if (s3_xml_text(in, in + n, "Key", key, sizeof key) < 0 ||
            s3_xml_text(in, in + n, "UploadId", id, sizeof id) < 0)
            return es_errf(err, 500,
                           "S3 list uploads: an Upload without Key/UploadId");
        s3_upload u = {key, id};
        int rc = fn(ctx, &u);
        if (rc != 0)
            return rc;
        p = next;
    }
    char trunc[8] = "";
    s3_xml_text(text, end, "IsTruncated", trunc, sizeof trunc);
    key_marker[0] = id_marker[0] = '\0';
    if (strcmp(trunc, "true") == 0 &&
        (s3_xml_text(text, end, "NextKeyMarker", key_marker, cap) < 0 ||
         s3_xml_text(text, end, "NextUploadIdMarker", id_marker, cap) < 0 ||
         !*key_marker))
        return es_errf(err, 500, "S3 list uploads: truncated without markers");
    return 0;
}

