/*
 * s3_url.c - the s3:// URL that names a bucket, a key prefix and how to
 * reach them (s3.h: s3_url_parse), and the URLs of objects built from it.
 *
 *   s3://BUCKET[/PREFIX][?endpoint=URL&region=R&path_style=0|1]
 *
 * Bucket names follow S3's rules (3-63 of [a-z0-9.-], alphanumeric at both
 * ends); the prefix is kept to characters that need no escaping in a URL
 * path ([A-Za-z0-9._-/], no empty or dot segment, at most 512 bytes), so
 * the key in the URL libcurl signs is the key itself.
 */
#include "s3.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VALUE_MAX 1024
#define PREFIX_MAX 512 /* keys stay well inside URL and buffer limits */

/* 0-15 for a hex digit, -1 otherwise. */
static int hexval(char c)
{
    if (!isxdigit((unsigned char)c))
        return -1;
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* Decodes in[0..len) ('+' is a space, as in any query) into a new string;
 * NULL on a bad escape, an encoded NUL or out of memory. */
static char *query_value(const char *in, size_t len)
{
    char *out = malloc(len + 1);
    size_t o = 0;
    for (size_t i = 0; out && i < len; i++) {
        char c = in[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 2 < len ? hexval(in[i + 1]) : -1;
            int lo = hi >= 0 ? hexval(in[i + 2]) : -1;
            if (lo < 0 || (hi == 0 && lo == 0)) {
                free(out);
                return NULL;
            }
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        out[o++] = c;
    }
    if (out)
        out[o] = '\0';
    return out;
}

static int bucket_valid(const char *b, size_t n)
{
    if (n < 3 || n > 63)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = b[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && c != '.' && c != '-')
            return 0;
        if (!alnum && (i == 0 || i == n - 1))
            return 0;
    }
    return 1;
}

static int prefix_valid(const char *p, size_t n)
{
    size_t seg = 0; /* start of the current segment */
    for (size_t i = 0; i <= n; i++) {
        if (i == n || p[i] == '/') {
            size_t len = i - seg;
            if (len == 0 || (len == 1 && p[seg] == '.') ||
                (len == 2 && p[seg] == '.' && p[seg + 1] == '.'))
                return 0;
            seg = i + 1;
            continue;
        }
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* http(s)://HOST[:PORT] with nothing after but an optional '/'. */
static int endpoint_valid(char *e)
{
    size_t skip = strncmp(e, "http://", 7) == 0    ? 7
                  : strncmp(e, "https://", 8) == 0 ? 8
                                                   : 0;
    if (skip == 0)
        return 0;
    size_t n = strlen(e);
    if (n > skip && e[n - 1] == '/')
        e[--n] = '\0';
    const char *h = e + skip;
    if (*h == '\0' || *h == ':')
        return 0;
    const char *colon = NULL;
    for (const char *p = h; *p; p++) {
        if (*p == ':' && !colon)
            colon = p;
        else if (colon && (*p < '0' || *p > '9'))
            return 0;
        else if (!colon && !((*p >= 'a' && *p <= 'z') ||
                             (*p >= 'A' && *p <= 'Z') ||
                             (*p >= '0' && *p <= '9') || *p == '.' ||
                             *p == '-'))
            return 0;
    }
    return !colon || (colon[1] != '\0' && strlen(colon + 1) <= 5);
}

static int region_valid(const char *r)
{
    if (*r == '\0' || strlen(r) > 64)
        return 0;
    for (; *r; r++)
        if (!((*r >= 'a' && *r <= 'z') || (*r >= '0' && *r <= '9') ||
              *r == '-'))
            return 0;
    return 1;
}

static int bad(s3_config *cfg, es_err *err, const char *url, const char *why)
{
    s3_config_free(cfg);
    return es_errf(err, 400, "bad S3 URL '%.120s': %s", url, why);
}

/* Sets one query parameter; returns the reason it is refused, or NULL. */
static const char *set_param(s3_config *cfg, const char *name, size_t nlen,
                             char *value, int *path_style_set)
{
    if (nlen == 8 && memcmp(name, "endpoint", 8) == 0) {
        if (cfg->endpoint) {
            free(value);
            return "endpoint given twice";
        }
        cfg->endpoint = value;
        return endpoint_valid(value)
                   ? NULL
                   : "endpoint is not http(s)://HOST[:PORT]";
    }
    if (nlen == 6 && memcmp(name, "region", 6) == 0) {
        if (cfg->region) {
            free(value);
            return "region given twice";
        }
        cfg->region = value;
        return region_valid(value) ? NULL : "region is not [a-z0-9-]+";
    }
    if (nlen == 10 && memcmp(name, "path_style", 10) == 0) {
        int ok = strcmp(value, "0") == 0 || strcmp(value, "1") == 0;
        int twice = *path_style_set;
        cfg->path_style = value[0] == '1';
        *path_style_set = 1;
        free(value);
        return twice ? "path_style given twice"
                     : ok ? NULL
                          : "path_style is 0 or 1";
    }
    free(value);
    return "unknown parameter (endpoint, region, path_style)";
}

static const char *parse_query(s3_config *cfg, const char *q,
                               int *path_style_set)
{
    while (*q) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', len);
        if (!eq)
            return "query parameter without '='";
        size_t nlen = (size_t)(eq - q), vlen = len - nlen - 1;
        if (vlen > VALUE_MAX)
            return "query value too long";
        char *value = query_value(eq + 1, vlen);
        if (!value)
            return "bad percent-encoding in the query";
        const char *why = set_param(cfg, q, nlen, value, path_style_set);
        if (why)
            return why;
        q += len + (amp != NULL);
    }
    return NULL;
}

int s3_url_parse(s3_config *out, const char *url, es_err *err)
{
    memset(out, 0, sizeof *out);
    if (url == NULL || strncmp(url, "s3://", 5) != 0)
        return bad(out, err, url ? url : "", "it does not start with s3://");
    const char *b = url + 5;
    size_t blen = strcspn(b, "/?");
    if (!bucket_valid(b, blen))
        return bad(out, err, url,
                   "the bucket name is not 3-63 of [a-z0-9.-]");
    const char *p = b + blen;
    size_t plen = 0;
    if (*p == '/') {
        p++;
        plen = strcspn(p, "?");
        while (plen > 0 && p[plen - 1] == '/')
            plen--; /* "s3://b/pre/" names the same prefix as "s3://b/pre" */
        if (plen > PREFIX_MAX)
            return bad(out, err, url, "the prefix is longer than 512 bytes");
        if (plen > 0 && !prefix_valid(p, plen))
            return bad(out, err, url,
                       "the prefix is not '/'-separated [A-Za-z0-9._-] "
                       "segments");
    }
    out->bucket = strndup(b, blen);
    out->prefix = strndup(p, plen);
    if (!out->bucket || !out->prefix) {
        s3_config_free(out);
        return es_errf(err, 500, "out of memory");
    }
    const char *q = strchr(p, '?');
    int path_style_set = 0;
    const char *why = q ? parse_query(out, q + 1, &path_style_set) : NULL;
    if (why)
        return bad(out, err, url, why);
    if (!path_style_set)
        out->path_style = out->endpoint != NULL;
    if (!out->region && !(out->region = strdup("us-east-1"))) {
        s3_config_free(out);
        return es_errf(err, 500, "out of memory");
    }
    if (!out->endpoint) {
        char aws[128];
        snprintf(aws, sizeof aws, "https://s3.%s.amazonaws.com", out->region);
        if (!(out->endpoint = strdup(aws))) {
            s3_config_free(out);
            return es_errf(err, 500, "out of memory");
        }
    }
    return 0;
}

int s3_config_set_keys(s3_config *cfg, const char *access_key,
                       const char *secret_key, es_err *err)
{
    free(cfg->access_key);
    free(cfg->secret_key);
    cfg->access_key = access_key ? strdup(access_key) : NULL;
    cfg->secret_key = secret_key ? strdup(secret_key) : NULL;
    if ((access_key && !cfg->access_key) || (secret_key && !cfg->secret_key))
        return es_errf(err, 500, "out of memory");
    return 0;
}

void s3_config_free(s3_config *cfg)
{
    free(cfg->endpoint);
    free(cfg->region);
    free(cfg->bucket);
    free(cfg->prefix);
    free(cfg->access_key);
    free(cfg->secret_key);
    memset(cfg, 0, sizeof *cfg);
}

/* key with every byte but [A-Za-z0-9._~/-] percent-encoded, as SigV4's
 * canonical URI has it; NULL if it does not fit. */
static const char *key_path(const char *key, char *out, size_t cap)
{
    static const char hx[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *k = (const unsigned char *)key; *k; k++) {
        if (o + 4 > cap)
            return NULL;
        if ((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') ||
            (*k >= '0' && *k <= '9') || strchr("-._~/", *k)) {
            out[o++] = (char)*k;
        } else {
            out[o++] = '%';
            out[o++] = hx[*k >> 4];
            out[o++] = hx[*k & 15];
        }
    }
    out[o] = '\0';
    return out;
}

int s3_object_url(const s3_config *cfg, const char *key, char *buf,
                  size_t cap)
{
    char path[3072];
    if (key && !(key = key_path(key, path, sizeof path)))
        return -1;
    const char *ep = cfg->endpoint;
    const char *host = strstr(ep, "://");
    host = host ? host + 3 : ep;
    int n;
    if (cfg->path_style)
        n = snprintf(buf, cap, "%s/%s%s%s", ep, cfg->bucket, key ? "/" : "",
                     key ? key : "");
    else
        n = snprintf(buf, cap, "%.*s%s.%s/%s", (int)(host - ep), ep,
                     cfg->bucket, host, key ? key : "");
    return n < 0 || (size_t)n >= cap ? -1 : n;
}
