/*
 * fuzz_forwarded.c - libFuzzer target for server/proxy.h: trusted-proxy
 * CIDRs, --public-url, and the client address and public base URL taken
 * from hostile Forwarded / X-Forwarded-* / Host headers.
 *
 * The input is text, one field a line:
 *   1. a --trusted-proxy list (also parsed whole as one CIDR)
 *   2. a --public-url
 *   3... request headers, "Name: value" (names compare case-insensitively)
 * The headers are asked of four peers: 127.0.0.1, ::1 and ::ffff:127.0.0.1
 * (trusted by the default list) and 192.0.2.1 (trusted by no default),
 * under the default list with the fuzzed public URL and under the fuzzed
 * list with none.  Aborts when:
 *   - a parsed CIDR is out of range, or its own network address is not
 *     trusted;
 *   - a configuration error has no message, or a public URL is kept in a
 *     form proxy_config_init does not promise;
 *   - an untrusted peer's headers other than Host are read at all, or its
 *     client address is not its own;
 *   - an output is not a NUL-terminated string inside its buffer (each is
 *     malloc'd to exactly its size, so ASan sees a write past it);
 *   - a base URL is not scheme://host[:port][/prefix] made of URL
 *     characters, with a non-empty host and a port of 1-65535 digits.
 * Seeds are in tests/fuzz/seeds/forwarded/.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy.h"

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_forwarded:%d: check failed: %s\n", __LINE__, \
                    #cond);                                                    \
            abort();                                                           \
        }                                                                      \
    } while (0)

#define MAX_HEADERS 16

typedef struct request {
    size_t n;
    char *name[MAX_HEADERS];
    char *value[MAX_HEADERS];
    int asked_other; /* a header other than Host was looked up */
} request;

static const char *lookup(void *ctx, const char *name)
{
    request *r = ctx;
    if (strcasecmp(name, "Host") != 0)
        r->asked_other = 1;
    for (size_t i = 0; i < r->n; i++)
        if (strcasecmp(r->name[i], name) == 0)
            return r->value[i];
    return NULL;
}

static char *dup_n(const uint8_t *s, size_t len)
{
    char *out = malloc(len + 1);
    CHECK(out != NULL);
    memcpy(out, s, len);
    out[len] = '\0';
    return out;
}

/* The line at *pos (a NUL-terminated copy, NULL past the end); *pos moves
 * past it. */
static char *next_line(const uint8_t *data, size_t size, size_t *pos)
{
    if (*pos > size)
        return NULL;
    const uint8_t *nl = memchr(data + *pos, '\n', size - *pos);
    size_t len = nl ? (size_t)(nl - (data + *pos)) : size - *pos;
    char *line = dup_n(data + *pos, len);
    *pos += len + 1;
    return line;
}

/* "Name: value" lines; a line without ':' is skipped. */
static void request_parse(request *r, const uint8_t *data, size_t size,
                          size_t pos)
{
    char *line;
    memset(r, 0, sizeof *r);
    while (r->n < MAX_HEADERS && (line = next_line(data, size, &pos))) {
        char *colon = strchr(line, ':');
        if (colon != NULL) {
            const char *v = colon + 1 + strspn(colon + 1, " \t");
            r->name[r->n] =
                dup_n((const uint8_t *)line, (size_t)(colon - line));
            r->value[r->n] = dup_n((const uint8_t *)v, strlen(v));
            r->n++;
        }
        free(line);
    }
}

static void request_free(request *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->name[i]);
        free(r->value[i]);
    }
}

static void check_cidr(const proxy_cidr *c)
{
    CHECK(c->family == AF_INET || c->family == AF_INET6);
    CHECK(c->bits <= (c->family == AF_INET ? 32u : 128u));
}

static void peer_of_cidr(struct sockaddr_storage *ss, const proxy_cidr *c)
{
    memset(ss, 0, sizeof *ss);
    if (c->family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        s4->sin_family = AF_INET;
        memcpy(&s4->sin_addr, c->addr, 4);
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        memcpy(&s6->sin6_addr, c->addr, 16);
    }
}

/* A CIDR list that is a single CIDR gives that CIDR, and a peer at its
 * network address is trusted. */
static void check_one_cidr(const char *s)
{
    proxy_cidr c;
    if (proxy_cidr_parse(s, &c) != 0)
        return;
    check_cidr(&c);
    proxy_config pc;
    char err[128];
    if (strcspn(s, ", \t") != strlen(s) || strlen(s) >= 80 ||
        strcmp(s, "none") == 0)
        return;
    CHECK(proxy_config_init(&pc, s, NULL, err, sizeof err) == 0);
    CHECK(pc.ncidrs == 1 && memcmp(&pc.cidrs[0], &c, sizeof c) == 0);
    struct sockaddr_storage ss;
    peer_of_cidr(&ss, &c);
    CHECK(proxy_trusted(&pc, (struct sockaddr *)&ss) == 1);
}

/* 0 and a checked configuration, or -1 and a message. */
static int config(proxy_config *pc, const char *trusted, const char *url)
{
    size_t errlen = 40; /* shorter than most messages: they must be cut */
    char *err = malloc(errlen);
    CHECK(err != NULL);
    err[0] = '\0';
    int rc = proxy_config_init(pc, trusted, url, err, errlen);
    CHECK(rc == 0 || rc == -1);
    if (rc != 0)
        CHECK(err[0] != '\0' && memchr(err, '\0', errlen) != NULL);
    free(err);
    if (rc != 0)
        return -1;
    CHECK(pc->ncidrs <= PROXY_MAX_CIDRS);
    for (size_t i = 0; i < pc->ncidrs; i++)
        check_cidr(&pc->cidrs[i]);
    size_t len = strnlen(pc->public_url, sizeof pc->public_url);
    CHECK(len < sizeof pc->public_url);
    if (len > 0)
        CHECK((strncmp(pc->public_url, "http://", 7) == 0 ||
               strncmp(pc->public_url, "https://", 8) == 0) &&
              pc->public_url[len - 1] != '/');
    return 0;
}

/* proxy.c's url_char_ok: what may appear in a URL elvesd hands out. */
static int url_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && strchr("\"<>\\?#`{}|^", c) == NULL;
}

/* host[:port] with a non-empty host, "[...]" for IPv6, a port of 1-65535. */
static int authority_ok(const char *a, size_t len)
{
    const char *end = a + len, *port;
    if (len > 0 && a[0] == '[') {
        const char *close = memchr(a, ']', len);
        if (close == NULL || close == a + 1)
            return 0;
        port = close + 1;
    } else {
        port = memchr(a, ':', len);
        if (port == NULL)
            port = end;
        if (port == a)
            return 0;
    }
    if (port == end)
        return 1;
    if (*port != ':' || end - port < 2 || end - port > 6)
        return 0;
    unsigned long p = 0;
    for (const char *s = port + 1; s < end; s++) {
        if (*s < '0' || *s > '9')
            return 0;
        p = p * 10 + (unsigned long)(*s - '0');
    }
    return p >= 1 && p <= 65535;
}

static void check_base(const char *url, int from_request)
{
    size_t len = strlen(url);
    const char *rest = strncmp(url, "https://", 8) == 0  ? url + 8
                       : strncmp(url, "http://", 7) == 0 ? url + 7
                                                         : NULL;
    CHECK(rest != NULL);
    CHECK(len > 0 && url[len - 1] != '/');
    for (size_t i = 0; i < len; i++)
        CHECK(url_char((unsigned char)url[i]));
    if (from_request) /* --public-url is the operator's to get right */
        CHECK(authority_ok(rest, strcspn(rest, "/")));
}

static void check_client_addr(const proxy_config *pc,
                              const struct sockaddr *peer, request *req,
                              const char *peer_text)
{
    static const size_t caps[] = {1, 8, INET6_ADDRSTRLEN, 128};
    int trusted = proxy_trusted(pc, peer);
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        char *out = malloc(caps[i]);
        CHECK(out != NULL);
        memset(out, 0xaa, caps[i]);
        req->asked_other = 0;
        proxy_client_addr(pc, peer, lookup, req, out, caps[i]);
        CHECK(memchr(out, '\0', caps[i]) != NULL);
        if (!trusted) {
            CHECK(!req->asked_other);
            if (caps[i] >= INET6_ADDRSTRLEN)
                CHECK(strcmp(out, peer_text) == 0);
        }
        free(out);
    }
}

static void check_public_base(const proxy_config *pc,
                              const struct sockaddr *peer, request *req)
{
    static const size_t caps[] = {1, 16, PROXY_URL_MAX};
    int trusted = proxy_trusted(pc, peer);
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        char *out = malloc(caps[i]);
        CHECK(out != NULL);
        memset(out, 0xaa, caps[i]);
        req->asked_other = 0;
        int rc =
            proxy_public_base(pc, peer, lookup, req, "localhost", out, caps[i]);
        CHECK(rc == 0 || rc == -1);
        CHECK(memchr(out, '\0', caps[i]) != NULL);
        if (!trusted)
            CHECK(!req->asked_other);
        if (rc == 0)
            check_base(out, pc->public_url[0] == '\0');
        free(out);
    }
}

typedef struct peer {
    const char *text;
    struct sockaddr_storage ss;
} peer;

static void peer_init(peer *p, const char *text)
{
    memset(p, 0, sizeof *p);
    p->text = text;
    if (strchr(text, ':') == NULL) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&p->ss;
        s4->sin_family = AF_INET;
        CHECK(inet_pton(AF_INET, text, &s4->sin_addr) == 1);
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&p->ss;
        s6->sin6_family = AF_INET6;
        CHECK(inet_pton(AF_INET6, text, &s6->sin6_addr) == 1);
    }
}

static void check_requests(const proxy_config *pc, request *req,
                           int loopback_trusted)
{
    static const char *const texts[] = {"127.0.0.1", "::1", "::ffff:127.0.0.1",
                                        "192.0.2.1"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        peer p;
        peer_init(&p, texts[i]);
        const struct sockaddr *sa = (const struct sockaddr *)&p.ss;
        if (loopback_trusted)
            CHECK(proxy_trusted(pc, sa) == (i < 3));
        check_client_addr(pc, sa, req, p.text);
        check_public_base(pc, sa, req);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t pos = 0;
    char *trusted = next_line(data, size, &pos);
    char *url = next_line(data, size, &pos);
    request req;
    request_parse(&req, data, size, pos);

    check_one_cidr(trusted);
    proxy_config pc;
    if (config(&pc, PROXY_DEFAULT_TRUSTED, url ? url : "") != 0)
        CHECK(config(&pc, PROXY_DEFAULT_TRUSTED, NULL) == 0);
    check_requests(&pc, &req, 1);
    if (config(&pc, trusted, NULL) == 0)
        check_requests(&pc, &req, 0);

    request_free(&req);
    free(url);
    free(trusted);
    return 0;
}
