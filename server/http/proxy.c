/*
 * proxy.c - trusted proxies, the forwarded client address and the public
 * base URL (proxy.h has the rules).  Pure string and address work;
 * http.c's http_public_base applies it to a request.
 */
#include "proxy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FIELD_MAX 256

/* ---- CIDRs ------------------------------------------------------------ */

/* Parses an address, with or without brackets ("[::1]"). */
static int parse_addr(const char *s, size_t len, int *family, uint8_t a[16])
{
    char buf[64];
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
        s++;
        len -= 2;
    }
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    memset(a, 0, 16);
    if (inet_pton(AF_INET, buf, a) == 1) {
        *family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, buf, a) == 1) {
        *family = AF_INET6;
        return 0;
    }
    return -1;
}

int proxy_cidr_parse(const char *s, proxy_cidr *out)
{
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    if (parse_addr(s, alen, &out->family, out->addr) != 0)
        return -1;
    unsigned max = out->family == AF_INET ? 32 : 128;
    out->bits = max;
    if (slash == NULL)
        return 0;
    char *end;
    unsigned long b = strtoul(slash + 1, &end, 10);
    if (!isdigit((unsigned char)slash[1]) || *end != '\0' || b > max)
        return -1;
    out->bits = (unsigned)b;
    return 0;
}

static int prefix_match(const uint8_t *a, const uint8_t *net, unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;
    if (memcmp(a, net, full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == (net[full] & mask);
}

/* A v4-mapped v6 address (::ffff:a.b.c.d) matches v4 CIDRs as a.b.c.d and
 * v6 CIDRs as itself, so "::ffff:10.0.0.0/104" and "10.0.0.0/8" both do. */
static int addr_trusted(const proxy_config *pc, int family, const uint8_t *a)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    int is_mapped = family == AF_INET6 && memcmp(a, mapped, 12) == 0;
    for (size_t i = 0; i < pc->ncidrs; i++) {
        const proxy_cidr *c = &pc->cidrs[i];
        if (c->family == family && prefix_match(a, c->addr, c->bits))
            return 1;
        if (is_mapped && c->family == AF_INET &&
            prefix_match(a + 12, c->addr, c->bits))
            return 1;
    }
    return 0;
}

int proxy_trusted(const proxy_config *pc, const struct sockaddr *sa)
{
    if (sa == NULL)
        return 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const void *)sa;
        return addr_trusted(pc, AF_INET, (const uint8_t *)&s4->sin_addr);
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const void *)sa;
        return addr_trusted(pc, AF_INET6, s6->sin6_addr.s6_addr);
    }
    return 0;
}

/* ---- configuration ------------------------------------------------------ */

static int url_char_ok(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '"' && c != '<' && c != '>' &&
           c != '\\' && c != '?' && c != '#' && c != '`' && c != '{' &&
           c != '}' && c != '|' && c != '^';
}

static int set_public_url(proxy_config *pc, const char *url, char *err,
                          size_t errlen)
{
    size_t len = strlen(url);
    const char *host = strncmp(url, "https://", 8) == 0  ? url + 8
                       : strncmp(url, "http://", 7) == 0 ? url + 7
                                                         : NULL;
    int ok = host != NULL && *host != '\0' && *host != '/' &&
             len < sizeof pc->public_url;
    for (size_t i = 0; ok && i < len; i++)
        ok = url_char_ok((unsigned char)url[i]);
    if (!ok) {
        snprintf(err, errlen,
                 "--public-url: expected http(s)://host[:port][/prefix]: '%s'",
                 url);
        return -1;
    }
    memcpy(pc->public_url, url, len + 1);
    while (len > 0 && pc->public_url[len - 1] == '/')
        pc->public_url[--len] = '\0';
    return 0;
}

int proxy_config_init(proxy_config *pc, const char *trusted,
                      const char *public_url, char *err, size_t errlen)
{
    memset(pc, 0, sizeof *pc);
    if (trusted != NULL && strcmp(trusted, "none") != 0) {
        const char *p = trusted;
        while (*p) {
            size_t n = strcspn(p, ", \t");
            if (n > 0) {
                char item[80];
                if (n >= sizeof item || pc->ncidrs == PROXY_MAX_CIDRS ||
                    (memcpy(item, p, n), item[n] = '\0',
                     proxy_cidr_parse(item, &pc->cidrs[pc->ncidrs]) != 0)) {
                    snprintf(err, errlen,
                             "--trusted-proxy: bad CIDR (or more than %d) "
                             "near '%.*s'",
                             PROXY_MAX_CIDRS, (int)(n > 60 ? 60 : n), p);
                    return -1;
                }
                pc->ncidrs++;
            }
            p += n;
            p += strspn(p, ", \t");
        }
    }
    if (public_url != NULL && *public_url != '\0')
        return set_public_url(pc, public_url, err, errlen);
    return 0;
}

/* ---- header values ------------------------------------------------------ */

/* The first entry of a comma list, trimmed, into out; 0 if empty. */
static size_t first_item(const char *v, char *out, size_t cap)
{
    if (v == NULL)
        return 0;
    v += strspn(v, " \t");
    size_t n = strcspn(v, ",");
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (n >= cap)
        return 0;
    memcpy(out, v, n);
    out[n] = '\0';
    return n;
}

/* Value of parameter `name` in the first element of a Forwarded header
 * (RFC 7239: for=...;proto=...;host=..., values maybe quoted). */
static size_t forwarded_param(const char *fwd, const char *name, char *out,
                              size_t cap)
{
    size_t nlen = strlen(name);
    const char *p = fwd;
    while (p != NULL && *p && *p != ',') {
        p += strspn(p, " \t;");
        if (strncasecmp(p, name, nlen) == 0 && p[nlen] == '=') {
            const char *v = p + nlen + 1;
            size_t n;
            if (*v == '"') {
                v++;
                n = strcspn(v, "\"");
            } else {
                n = strcspn(v, ";, \t");
            }
            if (n == 0 || n >= cap)
                return 0;
            memcpy(out, v, n);
            out[n] = '\0';
            return n;
        }
        p += strcspn(p, ";,");
    }
    return 0;
}

static unsigned parse_port(const char *s);

/* A host as a URL may carry it: a name or v4 address ([A-Za-z0-9._-]+) or
 * a bracketed v6 address, then an optional ":port" (1..65535).  "", ":80",
 * "a:b", "::1" and "[x" are refused. */
static int host_ok(const char *h)
{
    size_t len = strlen(h);
    if (len == 0 || len > 255)
        return 0;
    const char *p = h;
    if (*p == '[') {
        const char *close = strchr(p, ']');
        if (close == NULL || close == p + 1 ||
            strspn(p + 1, "0123456789abcdefABCDEF:.") != (size_t)(close - p - 1))
            return 0;
        p = close + 1;
    } else {
        size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                             "0123456789._-");
        if (n == 0)
            return 0;
        p += n;
    }
    return *p == '\0' || (*p == ':' && parse_port(p + 1) != 0);
}

/* Splits "host:port" / "[v6]:port" in place: returns the port or 0. */
static unsigned split_port(char *host)
{
    char *close = strrchr(host, ']');
    char *colon = strrchr(host, ':');
    if (colon == NULL || (close != NULL && colon < close))
        return 0;
    if (close == NULL && strchr(host, ':') != colon)
        return 0; /* bare v6 without brackets: no port */
    char *end;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || p == 0 || p > 65535)
        return 0;
    *colon = '\0';
    return (unsigned)p;
}

static unsigned parse_port(const char *s)
{
    char *end;
    if (s == NULL || !isdigit((unsigned char)*s))
        return 0;
    unsigned long p = strtoul(s, &end, 10);
    return *end == '\0' && p > 0 && p <= 65535 ? (unsigned)p : 0;
}

/* "/a/b/" -> "/a/b"; "" and "/" -> ""; bad characters -> "". */
static void clean_prefix(const char *in, char *out, size_t cap)
{
    size_t len = in ? strlen(in) : 0;
    out[0] = '\0';
    while (len > 0 && in[len - 1] == '/')
        len--;
    if (len == 0 || len + 2 > cap)
        return;
    for (size_t i = 0; i < len; i++)
        if (!url_char_ok((unsigned char)in[i]))
            return;
    snprintf(out, cap, "%s%.*s", in[0] == '/' ? "" : "/", (int)len, in);
}

/* ---- public base -------------------------------------------------------- */

typedef struct url_parts {
    char scheme[8];
    char host[FIELD_MAX];
    unsigned port;
    char prefix[FIELD_MAX];
} url_parts;

static void parts_from_trusted(url_parts *u, proxy_header_fn hdr, void *ctx)
{
    char v[FIELD_MAX];
    const char *fwd = hdr(ctx, "Forwarded");
    if ((first_item(hdr(ctx, "X-Forwarded-Proto"), v, sizeof v) ||
         (fwd && forwarded_param(fwd, "proto", v, sizeof v))) &&
        (strcasecmp(v, "http") == 0 || strcasecmp(v, "https") == 0)) {
        strcpy(u->scheme, v[4] ? "https" : "http");
    }
    if ((first_item(hdr(ctx, "X-Forwarded-Host"), v, sizeof v) ||
         (fwd && forwarded_param(fwd, "host", v, sizeof v))) &&
        host_ok(v)) {
        snprintf(u->host, sizeof u->host, "%s", v);
        u->port = split_port(u->host);
    }
    char pv[16];
    unsigned port = first_item(hdr(ctx, "X-Forwarded-Port"), pv, sizeof pv)
                        ? parse_port(pv)
                        : 0;
    if (port != 0)
        u->port = port;
    if (first_item(hdr(ctx, "X-Forwarded-Prefix"), v, sizeof v))
        clean_prefix(v, u->prefix, sizeof u->prefix);
}

int proxy_public_base(const proxy_config *pc, const struct sockaddr *peer,
                      proxy_header_fn hdr, void *ctx,
                      const char *fallback_host, char *out, size_t cap)
{
    if (pc->public_url[0] != '\0') {
        int n = snprintf(out, cap, "%s", pc->public_url);
        return n < 0 || (size_t)n >= cap ? -1 : 0;
    }
    url_parts u = {"http", "", 0, ""};
    const char *h = hdr(ctx, "Host");
    snprintf(u.host, sizeof u.host, "%s",
             h != NULL && host_ok(h) ? h : fallback_host);
    u.port = split_port(u.host);
    if (proxy_trusted(pc, peer))
        parts_from_trusted(&u, hdr, ctx);
    unsigned def = strcmp(u.scheme, "https") == 0 ? 443 : 80;
    char port[12] = "";
    if (u.port != 0 && u.port != def)
        snprintf(port, sizeof port, ":%u", u.port);
    int n = snprintf(out, cap, "%s://%s%s%s", u.scheme, u.host, port, u.prefix);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* ---- client address ----------------------------------------------------- */

static void peer_text(const struct sockaddr *sa, char *out, size_t cap)
{
    out[0] = '\0';
    if (sa == NULL)
        return;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
                  out, (socklen_t)cap);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6,
                  &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
                  out, (socklen_t)cap);
}

/* An X-Forwarded-For or for= entry without quotes, brackets or port. */
static void strip_node(const char *s, size_t n, char *out, size_t cap)
{
    while (n > 0 && (*s == ' ' || *s == '"'))
        s++, n--;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '"'))
        n--;
    if (n > 0 && *s == '[') { /* [v6]:port */
        const char *close = memchr(s, ']', n);
        if (close != NULL) {
            s++;
            n = (size_t)(close - s);
        }
    } else if (memchr(s, '.', n) != NULL) { /* v4:port */
        const char *colon = memchr(s, ':', n);
        if (colon != NULL)
            n = (size_t)(colon - s);
    }
    if (n >= cap)
        n = cap - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

static int node_trusted(const proxy_config *pc, const char *node)
{
    int family;
    uint8_t a[16];
    return parse_addr(node, strlen(node), &family, a) == 0 &&
           addr_trusted(pc, family, a);
}

/* Right-most entry of a list that is not a trusted proxy, else left-most. */
static int pick_forwarded_for(const proxy_config *pc, const char *list,
                              char *out, size_t cap)
{
    char node[128], first[128] = "";
    const char *end = list + strlen(list);
    while (end > list) {
        const char *start = end;
        while (start > list && start[-1] != ',')
            start--;
        strip_node(start, (size_t)(end - start), node, sizeof node);
        if (node[0] != '\0') {
            snprintf(first, sizeof first, "%s", node);
            if (!node_trusted(pc, node)) {
                snprintf(out, cap, "%s", node);
                return 1;
            }
        }
        end = start > list ? start - 1 : list;
    }
    if (first[0] == '\0')
        return 0;
    snprintf(out, cap, "%s", first);
    return 1;
}

void proxy_client_addr(const proxy_config *pc, const struct sockaddr *peer,
                       proxy_header_fn hdr, void *ctx, char *out, size_t cap)
{
    peer_text(peer, out, cap);
    if (!proxy_trusted(pc, peer))
        return;
    const char *xff = hdr(ctx, "X-Forwarded-For");
    if (xff != NULL && pick_forwarded_for(pc, xff, out, cap))
        return;
    const char *fwd = hdr(ctx, "Forwarded");
    char v[128];
    if (fwd != NULL && forwarded_param(fwd, "for", v, sizeof v)) {
        strip_node(v, strlen(v), out, cap);
    }
}

/* ---- process-wide settings ---------------------------------------------- */

/* Loopback trusted until main sets the configuration (static, so a
 * reader on any thread never sees it half built). */
static proxy_config global_pc = {
    .ncidrs = 2,
    .cidrs = {{AF_INET, {127}, 8}, {AF_INET6, {[15] = 1}, 128}},
};

void proxy_set_global(const proxy_config *pc)
{
    global_pc = *pc;
}

const proxy_config *proxy_global(void)
{
    return &global_pc;
}
