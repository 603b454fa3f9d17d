/*
 * hf_commit.c - the NDJSON commit body: lines and their parse
 * (hf_commit.h has the format).
 */
#include "hf_commit.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

int hf_is_sha256_hex(const char *s)
{
    size_t n = 0;
    for (; s && s[n]; n++)
        if (!isxdigit((unsigned char)s[n]) || isupper((unsigned char)s[n]))
            return 0;
    return n == 64;
}

/* Decodes standard base64 (no line breaks); returns the length or -1. */
static long b64_decode(const char *in, size_t len, uint8_t **out)
{
    if (len % 4 != 0 || len > HF_COMMIT_LINE_MAX)
        return -1;
    *out = malloc(len / 4 * 3 + 1);
    if (!*out)
        return -1;
    int n = EVP_DecodeBlock(*out, (const unsigned char *)in, (int)len);
    if (n < 0) {
        free(*out);
        *out = NULL;
        return -1;
    }
    while (len > 0 && in[len - 1] == '=') { /* DecodeBlock counts padding */
        len--;
        n--;
    }
    return n;
}

static const char *field(json_t *v, const char *key)
{
    return json_string_value(json_object_get(v, key));
}

static int parse_file(json_t *v, hf_line *out, es_err *err)
{
    const char *b64 = field(v, "content");
    const char *enc = field(v, "encoding");
    long n = b64 && (!enc || strcmp(enc, "base64") == 0)
                 ? b64_decode(b64, strlen(b64), &out->content)
                 : -1;
    if (n < 0)
        return es_errf(err, 400, "file '%.200s': content must be base64",
                       out->path);
    out->content_len = (size_t)n;
    return 0;
}

static int parse_lfs(json_t *v, hf_line *out, es_err *err)
{
    const char *oid = field(v, "oid");
    json_t *size = json_object_get(v, "size");
    if (!hf_is_sha256_hex(oid) ||
        (size && (!json_is_integer(size) || json_integer_value(size) < 0)))
        return es_errf(err, 400,
                       "lfsFile '%.200s': needs oid (sha256) and a size, if "
                       "any, that is a count",
                       out->path);
    memcpy(out->oid, oid, 65);
    out->has_size = size != NULL;
    out->size = size ? (uint64_t)json_integer_value(size) : 0;
    return 0;
}

int hf_line_parse(const char *line, size_t len, hf_line *out, es_err *err)
{
    static const struct {
        const char *key;
        hf_line_kind kind;
    } kinds[] = {{"header", HF_LINE_HEADER},
                 {"file", HF_LINE_FILE},
                 {"lfsFile", HF_LINE_LFS},
                 {"deletedFile", HF_LINE_DELETE_FILE},
                 {"deletedFolder", HF_LINE_DELETE_FOLDER}};
    memset(out, 0, sizeof *out);
    if (len == 0 || (len == 1 && line[0] == '\r'))
        return 0;
    json_error_t jerr;
    json_t *root = json_loadb(line, len, 0, &jerr);
    out->json = root;
    const char *key = field(root, "key");
    json_t *v = json_object_get(root, "value");
    if (!key || !json_is_object(v))
        return es_errf(err, 400,
                       "each line must be {\"key\":..., \"value\":{...}}");
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(key, kinds[i].key) == 0)
            out->kind = kinds[i].kind;
    switch (out->kind) {
    case HF_LINE_BLANK:
        return es_errf(err, 400, "unknown commit operation '%.40s'", key);
    case HF_LINE_HEADER:
        out->summary = field(v, "summary");
        out->description = field(v, "description");
        out->parent = field(v, "parentCommit");
        return 0;
    default:
        break;
    }
    out->path = field(v, "path");
    if (!out->path)
        return es_errf(err, 400, "operation without a \"path\"");
    if (out->kind == HF_LINE_FILE)
        return parse_file(v, out, err);
    if (out->kind == HF_LINE_LFS)
        return parse_lfs(v, out, err);
    return 0;
}

void hf_line_free(hf_line *l)
{
    free(l->content);
    json_decref(l->json);
    memset(l, 0, sizeof *l);
}

int hf_ndjson_feed(hf_ndjson *nj, const char *data, size_t len,
                   int (*fn)(void *ctx, const char *line, size_t len),
                   void *ctx, es_err *err)
{
    if (nj->len + len > HF_COMMIT_LINE_MAX)
        return es_errf(err, 413,
                       "a commit line is over %u bytes: send large files "
                       "through LFS",
                       HF_COMMIT_LINE_MAX);
    if (nj->len + len > nj->cap) {
        size_t cap = nj->cap ? nj->cap : 65536;
        while (cap < nj->len + len)
            cap *= 2;
        char *grown = realloc(nj->buf, cap);
        if (!grown)
            return es_errf(err, 500, "out of memory");
        nj->buf = grown;
        nj->cap = cap;
    }
    if (len)
        memcpy(nj->buf + nj->len, data, len);
    nj->len += len;
    size_t start = 0;
    char *nl;
    int rc = 0;
    while (rc == 0 && (nl = memchr(nj->buf + start, '\n', nj->len - start))) {
        rc = fn(ctx, nj->buf + start, (size_t)(nl - nj->buf) - start);
        start = (size_t)(nl - nj->buf) + 1;
    }
    memmove(nj->buf, nj->buf + start, nj->len - start);
    nj->len -= start;
    return rc;
}

int hf_ndjson_finish(hf_ndjson *nj,
                     int (*fn)(void *ctx, const char *line, size_t len),
                     void *ctx)
{
    int rc = fn(ctx, nj->buf ? nj->buf : "", nj->len);
    nj->len = 0;
    return rc;
}

void hf_ndjson_free(hf_ndjson *nj)
{
    free(nj->buf);
    memset(nj, 0, sizeof *nj);
}
