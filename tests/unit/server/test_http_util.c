/*
 * test_http_util.c - the pure HTTP helpers of server/http/http_util.c and the
 * flag parsing of server/config.c: percent-decoding, path checks
 * (traversal, NUL, backslash, overlong), route matching, query strings,
 * HTTP dates, --listen and flag/environment precedence.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "http_util.h"

static void test_pct_decode(void **state)
{
    char out[64];
    assert_int_equal(http_pct_decode(out, sizeof out, "a%20b", 5, 0), 3);
    assert_string_equal(out, "a b");
    assert_int_equal(http_pct_decode(out, sizeof out, "a+b", 3, 0), 3);
    assert_string_equal(out, "a+b");
    assert_int_equal(http_pct_decode(out, sizeof out, "a+b", 3, 1), 3);
    assert_string_equal(out, "a b");
    assert_int_equal(http_pct_decode(out, sizeof out, "%2e%2E", 6, 0), 2);
    assert_string_equal(out, "..");
    assert_int_equal(http_pct_decode(out, sizeof out, "%2F", 3, 0), 1);
    assert_string_equal(out, "/");
    assert_int_equal(http_pct_decode(out, sizeof out, "", 0, 0), 0);
    assert_string_equal(out, "");
}

static void test_pct_decode_rejects(void **state)
{
    char out[8];
    assert_int_equal(http_pct_decode(out, sizeof out, "a%00b", 5, 0), -1);
    assert_int_equal(http_pct_decode(out, sizeof out, "%", 1, 0), -1);
    assert_int_equal(http_pct_decode(out, sizeof out, "%4", 2, 0), -1);
    assert_int_equal(http_pct_decode(out, sizeof out, "%zz", 3, 0), -1);
    assert_int_equal(http_pct_decode(out, sizeof out, "a\0b", 3, 0), -1);
    assert_int_equal(http_pct_decode(out, sizeof out, "123456789", 9, 0),
                     -1); /* does not fit */
    assert_int_equal(http_pct_decode(out, sizeof out, "1234567", 7, 0), 7);
}

static void test_pct_encode(void **state)
{
    char out[64];
    http_pct_encode(out, sizeof out, "refs/pr/1", 0);
    assert_string_equal(out, "refs%2Fpr%2F1");
    http_pct_encode(out, sizeof out, "a b/c~", 1);
    assert_string_equal(out, "a%20b/c~");
    http_pct_encode(out, 4, "abcdef", 0); /* truncated, terminated */
    assert_string_equal(out, "abc");
}

static void test_repo_name(void **state)
{
    char out[16];
    assert_int_equal(http_repo_name(out, sizeof out, "acme", "m.git", 1), 0);
    assert_string_equal(out, "acme/m");
    assert_int_equal(http_repo_name(out, sizeof out, "acme", "m.git", 0), 0);
    assert_string_equal(out, "acme/m.git");
    assert_int_equal(http_repo_name(out, sizeof out, "acme", NULL, 0), -1);
    assert_int_equal(
        http_repo_name(out, sizeof out, "a-long-org", "a-long-name", 0), -1);
}

static void test_path_problem(void **state)
{
    assert_null(http_path_problem("model.safetensors"));
    assert_null(http_path_problem("a/b/c.bin"));
    assert_null(http_path_problem("..a/b..c/.d"));
    assert_null(http_path_problem("caf\xc3\xa9.txt"));
    assert_non_null(http_path_problem(""));
    assert_non_null(http_path_problem(".."));
    assert_non_null(http_path_problem("../etc/passwd"));
    assert_non_null(http_path_problem("a/../b"));
    assert_non_null(http_path_problem("a/.."));
    assert_non_null(http_path_problem("./a"));
    assert_non_null(http_path_problem("/etc/passwd"));
    assert_non_null(http_path_problem("a//b"));
    assert_non_null(http_path_problem("a/"));
    assert_non_null(http_path_problem("a\\b"));
    assert_non_null(http_path_problem("..\\x"));
    assert_non_null(http_path_problem("a\nb"));
    assert_non_null(http_path_problem("a\x7f"));
    assert_non_null(http_path_problem("\xff\xfe"));     /* not UTF-8 */
    assert_non_null(http_path_problem("\xc0\xae"));     /* overlong '.' */
    assert_non_null(http_path_problem("\xed\xa0\x80")); /* surrogate */

    char long_path[HTTP_PATH_MAX + 2];
    memset(long_path, 'a', sizeof long_path - 1);
    long_path[sizeof long_path - 1] = '\0';
    assert_non_null(http_path_problem(long_path));
    long_path[HTTP_PATH_MAX] = '\0';
    assert_null(http_path_problem(long_path));
}

#define FILES "/api/v1/repos/{org}/{name}/files/{path*}"

static void test_route_match(void **state)
{
    http_params p;
    assert_int_equal(http_route_match("/healthz", "/healthz", &p), 1);
    assert_int_equal(p.n, 0);
    assert_int_equal(http_route_match("/healthz", "/healthz/", &p), 0);
    assert_int_equal(http_route_match("/healthz", "/health", &p), 0);
    assert_int_equal(http_route_match("/api/v1/repos", "/api/v1/repos/", &p),
                     0);

    assert_int_equal(
        http_route_match(FILES, "/api/v1/repos/org/m/files/a/b%20c.bin", &p),
        1);
    assert_string_equal(http_params_get(&p, "org"), "org");
    assert_string_equal(http_params_get(&p, "name"), "m");
    assert_string_equal(http_params_get(&p, "path"), "a/b c.bin");
    assert_null(http_params_get(&p, "nope"));
    http_params_free(&p);

    /* the rest needs at least one segment; empty single segments fail */
    assert_int_equal(http_route_match(FILES, "/api/v1/repos/o/m/files/", &p),
                     0);
    assert_int_equal(http_route_match(FILES, "/api/v1/repos/o/m/files", &p), 0);
    assert_int_equal(http_route_match(FILES, "/api/v1/repos//m/files/x", &p),
                     0);
    /* bad encoding in a capture */
    assert_int_equal(
        http_route_match(FILES, "/api/v1/repos/o/m/files/a%00b", &p), -1);
    assert_int_equal(
        http_route_match(FILES, "/api/v1/repos/o%zz/m/files/a", &p), -1);
}

static void test_route_segment_decoding(void **state)
{
    http_params p;
    /* "{rev}" is one raw segment, decoded: %2F stays inside it */
    assert_int_equal(http_route_match("/{org}/{name}/resolve/{rev}/{path*}",
                                      "/o/m/resolve/refs%2Fpr%2F1/w.bin", &p),
                     1);
    assert_string_equal(http_params_get(&p, "rev"), "refs/pr/1");
    assert_string_equal(http_params_get(&p, "path"), "w.bin");
    http_params_free(&p);
    /* traversal arrives decoded for the path check to refuse */
    assert_int_equal(
        http_route_match(FILES, "/api/v1/repos/o/m/files/%2e%2e/x", &p), 1);
    assert_string_equal(http_params_get(&p, "path"), "../x");
    assert_non_null(http_path_problem(http_params_get(&p, "path")));
    http_params_free(&p);
    /* a literal segment compares raw */
    assert_int_equal(http_route_match("/api/v1/stats", "/api/v1/st%61ts", &p),
                     0);
}

static void test_query(void **state)
{
    http_query q;
    assert_int_equal(http_query_parse(&q, "revision=dev%2F1&x&y=&a+b=c+d"), 0);
    assert_int_equal(q.n, 4);
    assert_string_equal(http_query_get(&q, "revision"), "dev/1");
    assert_string_equal(http_query_get(&q, "x"), "");
    assert_string_equal(http_query_get(&q, "y"), "");
    assert_string_equal(http_query_get(&q, "a b"), "c d");
    assert_null(http_query_get(&q, "z"));
    http_query_free(&q);

    assert_int_equal(http_query_parse(&q, NULL), 0);
    assert_int_equal(q.n, 0);
    http_query_free(&q);
    assert_int_equal(http_query_parse(&q, "&&a=1&&"), 0);
    assert_int_equal(q.n, 1);
    assert_string_equal(http_query_get(&q, "a"), "1");
    http_query_free(&q);
    /* first value wins */
    assert_int_equal(http_query_parse(&q, "a=1&a=2"), 0);
    assert_string_equal(http_query_get(&q, "a"), "1");
    http_query_free(&q);

    assert_int_equal(http_query_parse(&q, "a=%00"), -1);
    assert_int_equal(q.n, 0);
    assert_int_equal(http_query_parse(&q, "a%zz=1"), -1);

    char many[HTTP_MAX_QUERY_PAIRS * 4 + 8] = "";
    for (int i = 0; i <= HTTP_MAX_QUERY_PAIRS; i++)
        strcat(many, "a=1&");
    assert_int_equal(http_query_parse(&q, many), -1);
}

static void test_dates(void **state)
{
    char d[HTTP_DATE_LEN];
    int64_t t;
    http_date_format(d, 784111777);
    assert_string_equal(d, "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_int_equal(http_date_parse(d, &t), 0);
    assert_int_equal(t, 784111777);
    assert_int_equal(http_date_parse("Sunday, 06-Nov-94 08:49:37 GMT", &t), 0);
    assert_int_equal(t, 784111777);
    assert_int_equal(http_date_parse("Sun Nov  6 08:49:37 1994", &t), 0);
    assert_int_equal(t, 784111777);
    assert_int_equal(http_date_parse("yesterday", &t), -1);
    assert_int_equal(http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT+junk", &t),
                     -1);
    http_date_format(d, 0);
    assert_string_equal(d, "Thu, 01 Jan 1970 00:00:00 GMT");
}

/* ---- config ------------------------------------------------------------ */

static const char *fake_env(const char *name)
{
    if (strcmp(name, "ELVES_DATA") == 0)
        return "/from/env";
    if (strcmp(name, "ELVES_WORKERS") == 0)
        return "3";
    return NULL;
}

static const char *bad_env(const char *name)
{
    return strcmp(name, "ELVES_WORKERS") == 0 ? "many" : NULL;
}

static void test_config_defaults_env_flags(void **state)
{
    elvesd_config c;
    char err[256];
    char *argv0[] = {"elvesd", NULL};
    assert_int_equal(config_parse(&c, 1, argv0, NULL, err, sizeof err),
                     CONFIG_RUN);
    assert_string_equal(c.data_dir, "./data");
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 8080);
    assert_int_equal(c.log_format, CONFIG_LOG_TEXT);

    char *argv[] = {"elvesd", "--data=/from/flag", "--listen",
                    ":0",     "--log-format",      "json",
                    NULL};
    assert_int_equal(config_parse(&c, 6, argv, fake_env, err, sizeof err),
                     CONFIG_RUN);
    assert_string_equal(c.data_dir, "/from/flag"); /* flag beats env */
    assert_int_equal(c.workers, 3);                /* env beats default */
    assert_int_equal(c.listen_port, 0);
    assert_int_equal(c.log_format, CONFIG_LOG_JSON);
}

static void test_config_errors(void **state)
{
    elvesd_config c;
    char err[256];
    char *a1[] = {"elvesd", "--nope", NULL};
    assert_int_equal(config_parse(&c, 2, a1, NULL, err, sizeof err),
                     CONFIG_ERROR);
    char *a2[] = {"elvesd", "--workers", NULL};
    assert_int_equal(config_parse(&c, 2, a2, NULL, err, sizeof err),
                     CONFIG_ERROR);
    char *a3[] = {"elvesd", "--listen", "nohost", NULL};
    assert_int_equal(config_parse(&c, 3, a3, NULL, err, sizeof err),
                     CONFIG_ERROR);
    char *a4[] = {"elvesd", "--log-format", "xml", NULL};
    assert_int_equal(config_parse(&c, 3, a4, NULL, err, sizeof err),
                     CONFIG_ERROR);
    char *a5[] = {"elvesd", NULL};
    assert_int_equal(config_parse(&c, 1, a5, bad_env, err, sizeof err),
                     CONFIG_ERROR);
    assert_non_null(strstr(err, "ELVES_WORKERS"));
    char *a6[] = {"elvesd", "--help", NULL};
    assert_int_equal(config_parse(&c, 2, a6, NULL, err, sizeof err),
                     CONFIG_HELP);
    char *a7[] = {"elvesd", "--version", NULL};
    assert_int_equal(config_parse(&c, 2, a7, NULL, err, sizeof err),
                     CONFIG_VERSION);
}

static void test_config_listen(void **state)
{
    char host[64];
    unsigned port;
    assert_int_equal(
        config_parse_listen("0.0.0.0:80", host, sizeof host, &port), 0);
    assert_string_equal(host, "0.0.0.0");
    assert_int_equal(port, 80);
    assert_int_equal(
        config_parse_listen("[::1]:8080", host, sizeof host, &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(
        config_parse_listen("localhost:65535", host, sizeof host, &port), 0);
    assert_int_equal(config_parse_listen("h:65536", host, sizeof host, &port),
                     -1);
    assert_int_equal(config_parse_listen("h:", host, sizeof host, &port), -1);
    assert_int_equal(config_parse_listen("h:1x", host, sizeof host, &port), -1);
    assert_int_equal(config_parse_listen("::1:80", host, sizeof host, &port),
                     -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pct_decode),
        cmocka_unit_test(test_pct_decode_rejects),
        cmocka_unit_test(test_pct_encode),
        cmocka_unit_test(test_repo_name),
        cmocka_unit_test(test_path_problem),
        cmocka_unit_test(test_route_match),
        cmocka_unit_test(test_route_segment_decoding),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_config_defaults_env_flags),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_config_listen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
