/*
 * test_proxy.c - server/http/proxy.c: CIDR parsing and matching, which peers are
 * trusted, the public base URL from X-Forwarded-* / Forwarded / Host /
 * --public-url, bad header values ignored, and the client address taken
 * from X-Forwarded-For only behind a trusted proxy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "proxy.h"

/* A request's headers: NULL-terminated name, value pairs. */
static const char *lookup(void *ctx, const char *name)
{
    const char **h = ctx;
    for (; h[0] != NULL; h += 2)
        if (strcasecmp(h[0], name) == 0)
            return h[1];
    return NULL;
}

static struct sockaddr_storage peer4(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    s4->sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
    return ss;
}

static struct sockaddr_storage peer6(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    s6->sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
    return ss;
}

static proxy_config cfg(const char *trusted, const char *url)
{
    proxy_config pc;
    char err[256];
    assert_int_equal(proxy_config_init(&pc, trusted, url, err, sizeof err), 0);
    return pc;
}

static void test_cidr_parse(void **state)
{
    proxy_cidr c;
    assert_int_equal(proxy_cidr_parse("10.0.0.0/8", &c), 0);
    assert_int_equal(c.bits, 8);
    assert_int_equal(proxy_cidr_parse("::1", &c), 0);
    assert_int_equal(c.bits, 128);
    assert_int_equal(proxy_cidr_parse("fd00::/8", &c), 0);
    assert_int_equal(proxy_cidr_parse("192.168.1.7", &c), 0);
    assert_int_equal(c.bits, 32);
    assert_int_equal(proxy_cidr_parse("10.0.0.0/33", &c), -1);
    assert_int_equal(proxy_cidr_parse("10.0.0.0/", &c), -1);
    assert_int_equal(proxy_cidr_parse("10.0.0/8", &c), -1);
    assert_int_equal(proxy_cidr_parse("host.example", &c), -1);
    assert_int_equal(proxy_cidr_parse("::1/129", &c), -1);
    assert_int_equal(proxy_cidr_parse("", &c), -1);

    proxy_config pc;
    char err[256];
    assert_int_equal(proxy_config_init(&pc, "10.0.0.0/8, bogus", NULL, err,
                                       sizeof err),
                     -1);
    assert_non_null(strstr(err, "bogus"));
    assert_int_equal(proxy_config_init(&pc, "", "ftp://x", err, sizeof err),
                     -1);
    assert_int_equal(proxy_config_init(&pc, "", "https://", err, sizeof err),
                     -1);
    assert_int_equal(
        proxy_config_init(&pc, "", "https://a b", err, sizeof err), -1);
}

static void test_trusted(void **state)
{
    proxy_config pc = cfg(PROXY_DEFAULT_TRUSTED, NULL);
    struct sockaddr_storage a = peer4("127.0.0.1"), b = peer4("127.255.1.2"),
                            c = peer4("10.1.2.3"), d = peer6("::1"),
                            e = peer6("::ffff:127.0.0.1"), f = peer6("::2");
    assert_true(proxy_trusted(&pc, (struct sockaddr *)&a));
    assert_true(proxy_trusted(&pc, (struct sockaddr *)&b));
    assert_false(proxy_trusted(&pc, (struct sockaddr *)&c));
    assert_true(proxy_trusted(&pc, (struct sockaddr *)&d));
    assert_true(proxy_trusted(&pc, (struct sockaddr *)&e));
    assert_false(proxy_trusted(&pc, (struct sockaddr *)&f));
    assert_false(proxy_trusted(&pc, NULL));

    proxy_config net = cfg("10.0.0.0/12 fd00::/8", NULL);
    struct sockaddr_storage g = peer4("10.15.255.255"), h = peer4("10.16.0.1"),
                            i = peer6("fd12::1");
    assert_true(proxy_trusted(&net, (struct sockaddr *)&g));
    assert_false(proxy_trusted(&net, (struct sockaddr *)&h));
    assert_true(proxy_trusted(&net, (struct sockaddr *)&i));
    assert_false(proxy_trusted(&net, (struct sockaddr *)&a));

    proxy_config none = cfg("none", NULL);
    assert_false(proxy_trusted(&none, (struct sockaddr *)&a));

    /* a v4-mapped CIDR matches the mapped peer and the plain v4 one
     * (it matched neither: found by fuzz_forwarded) */
    proxy_config mapped = cfg("::ffff:10.0.0.0/104", NULL);
    struct sockaddr_storage m4 = peer4("10.1.2.3"),
                            m6 = peer6("::ffff:10.1.2.3"),
                            other = peer6("::ffff:11.1.2.3");
    assert_true(proxy_trusted(&mapped, (struct sockaddr *)&m6));
    assert_false(proxy_trusted(&mapped, (struct sockaddr *)&other));
    proxy_config v4 = cfg("10.0.0.0/8", NULL);
    assert_true(proxy_trusted(&v4, (struct sockaddr *)&m6));
    assert_true(proxy_trusted(&v4, (struct sockaddr *)&m4));
}

static void base(const proxy_config *pc, const char *peer, const char **hdrs,
                 const char *want)
{
    struct sockaddr_storage p = peer4(peer);
    char out[512];
    assert_int_equal(proxy_public_base(pc, (struct sockaddr *)&p, lookup,
                                       (void *)hdrs, "localhost", out,
                                       sizeof out),
                     0);
    assert_string_equal(out, want);
}

static void test_public_base_forwarded(void **state)
{
    proxy_config pc = cfg(PROXY_DEFAULT_TRUSTED, NULL);
    const char *plain[] = {"Host", "127.0.0.1:8080", NULL};
    base(&pc, "127.0.0.1", plain, "http://127.0.0.1:8080");
    const char *xf[] = {"Host", "127.0.0.1:8080", "X-Forwarded-Proto", "https",
                        "X-Forwarded-Host", "hub.example", NULL};
    base(&pc, "127.0.0.1", xf, "https://hub.example");
    const char *port[] = {"Host", "b:1", "X-Forwarded-Proto", "HTTPS",
                          "X-Forwarded-Host", "hub.example:8443",
                          "X-Forwarded-Port", "9443", NULL};
    base(&pc, "127.0.0.1", port, "https://hub.example:9443");
    const char *def[] = {"Host", "b", "X-Forwarded-Proto", "http",
                         "X-Forwarded-Host", "h.example", "X-Forwarded-Port",
                         "80", "X-Forwarded-Prefix", "/hub/", NULL};
    base(&pc, "127.0.0.1", def, "http://h.example/hub");
    const char *list[] = {"Host", "b", "X-Forwarded-Proto", "https, http",
                          "X-Forwarded-Host", "outer.example, inner", NULL};
    base(&pc, "127.0.0.1", list, "https://outer.example");
    const char *rfc[] = {"Host", "b",
                         "Forwarded",
                         "for=192.0.2.60;proto=https;host=\"f.example:444\", "
                         "for=10.0.0.1;host=inner",
                         NULL};
    base(&pc, "127.0.0.1", rfc, "https://f.example:444");
    const char *v6[] = {"Host", "[::1]:8080", NULL};
    base(&pc, "127.0.0.1", v6, "http://[::1]:8080");
    const char *nohost[] = {NULL};
    base(&pc, "127.0.0.1", nohost, "http://localhost");
}

static void test_public_base_untrusted_and_bad(void **state)
{
    proxy_config pc = cfg(PROXY_DEFAULT_TRUSTED, NULL);
    const char *xf[] = {"Host", "10.0.0.5:8080", "X-Forwarded-Proto", "https",
                        "X-Forwarded-Host", "evil.example",
                        "X-Forwarded-Prefix", "/x", "Forwarded",
                        "host=evil2", NULL};
    base(&pc, "10.9.9.9", xf, "http://10.0.0.5:8080");
    const char *bad[] = {"Host", "ok.example", "X-Forwarded-Proto",
                         "javascript", "X-Forwarded-Host",
                         "evil.example/path", "X-Forwarded-Port", "99999",
                         "X-Forwarded-Prefix", "/a\"b", NULL};
    base(&pc, "127.0.0.1", bad, "http://ok.example");
    const char *badhost[] = {"Host", "a b<script>", NULL};
    base(&pc, "127.0.0.1", badhost, "http://localhost");
    /* hosts of the right characters but the wrong shape (copied into the
     * URL before: found by fuzz_forwarded) */
    static const char *shapeless[] = {":80", "a:b", "::1", "[x", "a:0",
                                      "a:99999", "h:-1", "[]", "[::1"};
    for (size_t i = 0; i < sizeof shapeless / sizeof *shapeless; i++) {
        const char *h[] = {"Host", shapeless[i], NULL};
        base(&pc, "10.9.9.9", h, "http://localhost");
        const char *x[] = {"Host", "ok.example", "X-Forwarded-Host",
                           shapeless[i], NULL};
        base(&pc, "127.0.0.1", x, "http://ok.example");
    }
}

static void test_public_url_overrides(void **state)
{
    proxy_config pc = cfg(PROXY_DEFAULT_TRUSTED, "https://pub.example/p//");
    const char *xf[] = {"Host", "b", "X-Forwarded-Host", "other", NULL};
    base(&pc, "127.0.0.1", xf, "https://pub.example/p");
    base(&pc, "10.1.1.1", xf, "https://pub.example/p");
    char small[8];
    struct sockaddr_storage p = peer4("127.0.0.1");
    assert_int_equal(proxy_public_base(&pc, (struct sockaddr *)&p, lookup,
                                       (void *)xf, "l", small, sizeof small),
                     -1);
}

static void client(const proxy_config *pc, struct sockaddr_storage p,
                   const char **hdrs, const char *want)
{
    char out[64];
    proxy_client_addr(pc, (struct sockaddr *)&p, lookup, (void *)hdrs, out,
                      sizeof out);
    assert_string_equal(out, want);
}

static void test_client_addr(void **state)
{
    proxy_config pc = cfg(PROXY_DEFAULT_TRUSTED, NULL);
    const char *none[] = {NULL};
    client(&pc, peer4("127.0.0.1"), none, "127.0.0.1");
    const char *one[] = {"X-Forwarded-For", "203.0.113.7", NULL};
    client(&pc, peer4("127.0.0.1"), one, "203.0.113.7");
    client(&pc, peer4("10.0.0.9"), one, "10.0.0.9"); /* untrusted: ignored */
    /* a client-supplied entry left of the real one is not believed */
    const char *chain[] = {"X-Forwarded-For", "1.1.1.1, 203.0.113.7, 127.0.0.1",
                           NULL};
    client(&pc, peer4("127.0.0.1"), chain, "203.0.113.7");
    const char *alltrusted[] = {"X-Forwarded-For", "127.0.0.2, 127.0.0.3", NULL};
    client(&pc, peer4("127.0.0.1"), alltrusted, "127.0.0.2");
    const char *ported[] = {"X-Forwarded-For", "198.51.100.1:5555", NULL};
    client(&pc, peer4("127.0.0.1"), ported, "198.51.100.1");
    const char *fwd[] = {"Forwarded", "for=\"[2001:db8::17]:4711\";proto=https",
                         NULL};
    client(&pc, peer6("::1"), fwd, "2001:db8::17");
    client(&pc, peer6("2001:db8::99"), fwd, "2001:db8::99");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cidr_parse),
        cmocka_unit_test(test_trusted),
        cmocka_unit_test(test_public_base_forwarded),
        cmocka_unit_test(test_public_base_untrusted_and_bad),
        cmocka_unit_test(test_public_url_overrides),
        cmocka_unit_test(test_client_addr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
