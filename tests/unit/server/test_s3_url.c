/*
 * test_s3_url.c - the s3:// URL parser (s3.h: s3_url_parse): buckets,
 * prefixes, the query parameters and their percent-decoding, the defaults,
 * the URLs built from the result, and a clear 400 for each kind of bad
 * URL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "s3.h"

static void test_full_url(void **state)
{
    (void)state;
    s3_config c;
    es_err err;
    assert_int_equal(
        s3_url_parse(&c,
                     "s3://my-bucket.1/models/v1/?endpoint=http%3A%2F%2F127."
                     "0.0.1%3A7480%2F&region=eu-west-3&path_style=1",
                     &err),
        0);
    assert_string_equal(c.bucket, "my-bucket.1");
    assert_string_equal(c.prefix, "models/v1");
    assert_string_equal(c.endpoint, "http://127.0.0.1:7480");
    assert_string_equal(c.region, "eu-west-3");
    assert_int_equal(c.path_style, 1);
    char url[256];
    assert_true(s3_object_url(&c, "models/v1/packs/00ab", url, sizeof url) > 0);
    assert_string_equal(url, "http://127.0.0.1:7480/my-bucket.1/models/v1/packs/00ab");
    assert_true(s3_object_url(&c, NULL, url, sizeof url) > 0);
    assert_string_equal(url, "http://127.0.0.1:7480/my-bucket.1");
    assert_true(s3_object_url(&c, "a b+c", url, sizeof url) > 0);
    assert_string_equal(url, "http://127.0.0.1:7480/my-bucket.1/a%20b%2Bc");
    assert_int_equal(s3_object_url(&c, "k", url, 10), -1);
    assert_int_equal(s3_config_set_keys(&c, "AK", "SK", &err), 0);
    assert_string_equal(c.secret_key, "SK");
    s3_config_free(&c);
    assert_null(c.bucket);
}

static void test_defaults_and_virtual_host(void **state)
{
    (void)state;
    s3_config c;
    es_err err;
    assert_int_equal(s3_url_parse(&c, "s3://bucket", &err), 0);
    assert_string_equal(c.prefix, "");
    assert_string_equal(c.region, "us-east-1");
    assert_string_equal(c.endpoint, "https://s3.us-east-1.amazonaws.com");
    assert_int_equal(c.path_style, 0);
    char url[256];
    assert_true(s3_object_url(&c, "k/x", url, sizeof url) > 0);
    assert_string_equal(url, "https://bucket.s3.us-east-1.amazonaws.com/k/x");
    s3_config_free(&c);
    /* an endpoint alone means path style, unless said otherwise */
    assert_int_equal(
        s3_url_parse(&c, "s3://bucket/p?endpoint=http://h:9000", &err), 0);
    assert_int_equal(c.path_style, 1);
    s3_config_free(&c);
    assert_int_equal(s3_url_parse(&c,
                                  "s3://bucket/p?path_style=0&endpoint="
                                  "http://minio.local:9000",
                                  &err),
                     0);
    assert_int_equal(c.path_style, 0);
    assert_true(s3_object_url(&c, "p/k", url, sizeof url) > 0);
    assert_string_equal(url, "http://bucket.minio.local:9000/p/k");
    s3_config_free(&c);
}

static void expect_bad(const char *url, const char *why)
{
    s3_config c;
    es_err err = {0, ""};
    if (s3_url_parse(&c, url, &err) == 0)
        fail_msg("'%s' was accepted", url);
    assert_int_equal(err.status, 400);
    if (!strstr(err.msg, why))
        fail_msg("'%s': message '%s' does not say '%s'", url, err.msg, why);
    assert_null(c.bucket);
}

static void test_bad_urls(void **state)
{
    (void)state;
    expect_bad("http://bucket/x", "s3://");
    expect_bad("s3:/bucket", "s3://");
    expect_bad("", "s3://");
    expect_bad("s3://", "bucket name");
    expect_bad("s3://ab", "bucket name");
    expect_bad("s3://Bucket", "bucket name");
    expect_bad("s3://-bucket", "bucket name");
    expect_bad("s3://bucket-", "bucket name");
    expect_bad("s3://bu_cket", "bucket name");
    expect_bad("s3://bucket/a//b", "prefix");
    expect_bad("s3://bucket/a/../b", "prefix");
    expect_bad("s3://bucket/a b", "prefix");
    char long_url[700] = "s3://bucket/";
    memset(long_url + 12, 'a', 600);
    expect_bad(long_url, "longer than 512");
    expect_bad("s3://bucket/p?endpoint=ftp://h", "endpoint");
    expect_bad("s3://bucket/p?endpoint=http://", "endpoint");
    expect_bad("s3://bucket/p?endpoint=http://h/path", "endpoint");
    expect_bad("s3://bucket/p?endpoint=http://h:12x", "endpoint");
    expect_bad("s3://bucket/p?endpoint=http://h:123456", "endpoint");
    expect_bad("s3://bucket/p?endpoint=http://a&endpoint=http://b", "twice");
    expect_bad("s3://bucket/p?region=a&region=b", "twice");
    expect_bad("s3://bucket/p?region=US", "region");
    expect_bad("s3://bucket/p?region=", "region");
    expect_bad("s3://bucket/p?path_style=2", "path_style");
    expect_bad("s3://bucket/p?path_style=1&path_style=1", "twice");
    expect_bad("s3://bucket/p?colour=red", "unknown parameter");
    expect_bad("s3://bucket/p?region", "without '='");
    expect_bad("s3://bucket/p?region=eu%2", "percent-encoding");
    expect_bad("s3://bucket/p?region=eu%zz", "percent-encoding");
    expect_bad("s3://bucket/p?region=eu%00", "percent-encoding");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_url),
        cmocka_unit_test(test_defaults_and_virtual_host),
        cmocka_unit_test(test_bad_urls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
