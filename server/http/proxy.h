/*
 * proxy.h - elvesd behind a reverse proxy: which peers are trusted, the
 * client address they report (X-Forwarded-For, Forwarded: for=) and the
 * public base URL every absolute URL elvesd returns is built on.
 *
 * Headers that describe the original request (X-Forwarded-Proto, -Host,
 * -Port, -Prefix, -For and RFC 7239 Forwarded) are honoured only when the
 * TCP peer is inside one of the --trusted-proxy CIDRs (default: loopback,
 * 127.0.0.0/8 and ::1); from anyone else they are ignored, so a client
 * cannot make elvesd hand out links to another host.  --public-url
 * overrides everything: the base is then that URL whatever the request.
 *
 * Precedence for each part of the base, from a trusted peer:
 *   scheme  X-Forwarded-Proto, else Forwarded proto=, else "http";
 *   host    X-Forwarded-Host, else Forwarded host=, else Host;
 *   port    X-Forwarded-Port replaces the port in host (dropped when it is
 *           the scheme's default);
 *   prefix  X-Forwarded-Prefix ("/hub" -> "https://h/hub").
 * Lists ("a, b") use their first entry: the one the outermost proxy saw.
 * Values are checked (scheme http|https, host of [A-Za-z0-9.-_:[]], prefix
 * of URL path characters): a bad value is ignored, never copied into a URL.
 *
 * Everything here works on plain strings and socket addresses and is unit
 * tested (tests/unit/server/test_proxy.c).
 */
#ifndef ELVESD_PROXY_H
#define ELVESD_PROXY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PROXY_MAX_CIDRS 32
#define PROXY_URL_MAX 1024
#define PROXY_DEFAULT_TRUSTED "127.0.0.0/8,::1"

typedef struct proxy_cidr {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    unsigned bits;
} proxy_cidr;

typedef struct proxy_config {
    size_t ncidrs;
    proxy_cidr cidrs[PROXY_MAX_CIDRS];
    char public_url[PROXY_URL_MAX]; /* "" = build from the request */
} proxy_config;

/* Parses "10.0.0.0/8", "::1", "fd00::/8" or a bare address (a /32 or
 * /128).  Returns 0 or -1. */
int proxy_cidr_parse(const char *s, proxy_cidr *out);

/* Fills pc from a comma- or space-separated CIDR list ("" or "none" trusts
 * no one) and an optional public URL (NULL or "" for none; else
 * http(s)://host[:port][/prefix], trailing '/' dropped).  Returns 0, or -1
 * with a message in err. */
int proxy_config_init(proxy_config *pc, const char *trusted,
                      const char *public_url, char *err, size_t errlen);

/* Whether sa (AF_INET, AF_INET6; v4-mapped v6 counts as v4) is inside a
 * trusted CIDR. */
int proxy_trusted(const proxy_config *pc, const struct sockaddr *sa);

/* Looks up a request header (case-insensitive name), NULL if absent. */
typedef const char *(*proxy_header_fn)(void *ctx, const char *name);

/* The client address for logs: from a trusted peer, the right-most
 * X-Forwarded-For entry that is not itself a trusted proxy (else the
 * left-most), or Forwarded for= when there is no X-Forwarded-For; else
 * the peer.  Always writes a string ("" if nothing is known). */
void proxy_client_addr(const proxy_config *pc, const struct sockaddr *peer,
                       proxy_header_fn hdr, void *ctx, char *out, size_t cap);

/* "scheme://host[:port][/prefix]", no trailing slash, by the rules above.
 * fallback_host is used when the request has no usable Host (HTTP/1.0).
 * Returns 0, or -1 if it does not fit in cap. */
int proxy_public_base(const proxy_config *pc, const struct sockaddr *peer,
                      proxy_header_fn hdr, void *ctx,
                      const char *fallback_host, char *out, size_t cap);

/* The process-wide settings http.c and the routes use.  Set once by main
 * before the server starts; until then the default (loopback trusted, no
 * public URL) applies. */
void proxy_set_global(const proxy_config *pc);
const proxy_config *proxy_global(void);

#endif /* ELVESD_PROXY_H */
