/*
 * test_config.c - server/config.c beyond flags and environment
 * (test_http_util.c has those): the config file (keys by flag or variable
 * name, comments, quotes, errors with file:line), precedence default <
 * file < environment < flag, --trusted-proxy and --public-url checks, and
 * --print-config (effective values, where they came from, secrets masked).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static const char *env_table[16];

static const char *fake_env(const char *name)
{
    for (int i = 0; env_table[i] != NULL; i += 2)
        if (strcmp(env_table[i], name) == 0)
            return env_table[i + 1];
    return NULL;
}

static void set_env(const char *k1, const char *v1, const char *k2,
                    const char *v2)
{
    memset(env_table, 0, sizeof env_table);
    env_table[0] = k1;
    env_table[1] = v1;
    if (k1 != NULL) {
        env_table[2] = k2;
        env_table[3] = v2;
    }
}

static char path[512];

static const char *write_file(const char *text)
{
    snprintf(path, sizeof path, "%s/test_config.%d.conf", ELVES_TEST_TMP,
             (int)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static config_action parse(elvesd_config *c, int argc, char **argv, char *err)
{
    return config_parse(c, argc, argv, fake_env, err, 256);
}

static void test_file_and_precedence(void **state)
{
    elvesd_config c;
    char err[256];
    const char *f = write_file("# elvesd\n"
                               "\n"
                               "data = /srv/file-data\n"
                               "ELVES_WORKERS = 3   # a comment is a value\n"
                               "listen = \"0.0.0.0:9000\"\n"
                               "  cache-mb=128\n"
                               "trusted-proxy = 10.0.0.0/8, ::1\n"
                               "public-url = https://hub.example/x/\n");
    /* the inline '#' is not a comment: the value is rejected */
    char *argv0[] = {"elvesd", "--config", (char *)f};
    set_env(NULL, NULL, NULL, NULL);
    assert_int_equal(parse(&c, 3, argv0, err), CONFIG_ERROR);
    assert_non_null(strstr(err, ":4:"));

    f = write_file("data = /srv/file-data\n"
                   "ELVES_WORKERS = 3\n"
                   "listen = \"0.0.0.0:9000\"\n"
                   "  cache-mb=128\n"
                   "trusted-proxy = 10.0.0.0/8, ::1\n"
                   "public-url = https://hub.example/x/\n");
    set_env("ELVES_WORKERS", "5", NULL, NULL);
    char *argv1[] = {"elvesd", "--config=", "--cache-mb", "256"};
    char opt[600];
    snprintf(opt, sizeof opt, "--config=%s", f);
    argv1[1] = opt;
    assert_int_equal(parse(&c, 4, argv1, err), CONFIG_RUN);
    assert_string_equal(c.data_dir, "/srv/file-data");
    assert_string_equal(c.listen_host, "0.0.0.0");
    assert_int_equal(c.listen_port, 9000);
    assert_int_equal(c.workers, 5);   /* env over file */
    assert_int_equal(c.cache_mb, 256); /* flag over file */
    assert_string_equal(c.trusted_proxy, "10.0.0.0/8, ::1");
    assert_string_equal(c.public_url, "https://hub.example/x/");

    /* the file named by the environment */
    set_env("ELVES_CONFIG", f, NULL, NULL);
    char *argv2[] = {"elvesd"};
    assert_int_equal(parse(&c, 1, argv2, err), CONFIG_RUN);
    assert_int_equal(c.workers, 3);
    unlink(f);
}

static void test_file_errors(void **state)
{
    elvesd_config c;
    char err[256];
    set_env(NULL, NULL, NULL, NULL);
    const char *bad[] = {"nonsense-key = 1\n", "data\n", "workers = lots\n",
                         "config = /etc/other\n", "trusted-proxy = 1.2.3\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *f = write_file(bad[i]);
        char *argv[] = {"elvesd", "--config", (char *)f};
        assert_int_equal(parse(&c, 3, argv, err), CONFIG_ERROR);
        assert_non_null(strstr(err, ":1:"));
        unlink(f);
    }
    char *missing[] = {"elvesd", "--config", "/nonexistent/elvesd.conf"};
    assert_int_equal(parse(&c, 3, missing, err), CONFIG_ERROR);
    assert_non_null(strstr(err, "/nonexistent/elvesd.conf"));
}

static void test_proxy_flags(void **state)
{
    elvesd_config c;
    char err[256];
    set_env("ELVES_TRUSTED_PROXY", "300.1.1.1/8", NULL, NULL);
    char *argv0[] = {"elvesd"};
    assert_int_equal(parse(&c, 1, argv0, err), CONFIG_ERROR);
    assert_non_null(strstr(err, "ELVES_TRUSTED_PROXY"));
    set_env(NULL, NULL, NULL, NULL);
    char *argv1[] = {"elvesd", "--public-url", "hub.example"};
    assert_int_equal(parse(&c, 3, argv1, err), CONFIG_ERROR);
    char *argv2[] = {"elvesd", "--trusted-proxy", "none", "--public-url",
                     "http://h:1"};
    assert_int_equal(parse(&c, 5, argv2, err), CONFIG_RUN);
    assert_string_equal(c.trusted_proxy, "none");
    char *argv3[] = {"elvesd"};
    assert_int_equal(parse(&c, 1, argv3, err), CONFIG_RUN);
    assert_string_equal(c.trusted_proxy, "127.0.0.0/8,::1");
    assert_string_equal(c.public_url, "");
}

static void test_print_config(void **state)
{
    elvesd_config c;
    char err[256];
    set_env("ELVES_LOG_FORMAT", "json", NULL, NULL);
    char *argv[] = {"elvesd", "--print-config", "--listen", "[::1]:81"};
    assert_int_equal(parse(&c, 4, argv, err), CONFIG_PRINT);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    config_print(f, &c);
    fclose(f);
    assert_non_null(strstr(text, "# ELVES_LISTEN, from flag\n"
                                 "listen = \"[::1]:81\"\n"));
    assert_non_null(strstr(text, "# ELVES_LOG_FORMAT, from environment\n"
                                 "log-format = \"json\"\n"));
    assert_non_null(strstr(text, "# ELVES_DATA, from default\n"
                                 "data = \"./data\"\n"));
    /* the output is itself a config file giving the same settings */
    const char *p = write_file(text);
    char *argv2[] = {"elvesd", "--config", (char *)p};
    set_env(NULL, NULL, NULL, NULL);
    elvesd_config c2;
    assert_int_equal(parse(&c2, 3, argv2, err), CONFIG_RUN);
    assert_string_equal(c2.listen_host, "::1");
    assert_int_equal(c2.listen_port, 81);
    assert_int_equal(c2.log_format, CONFIG_LOG_JSON);
    assert_string_equal(c2.trusted_proxy, c.trusted_proxy);
    unlink(p);
    free(text);
}

/* --database and --chunk-store take only their schemes; the S3 keys come
 * from the environment and, with the database password, never print. */
static void test_scaleout_flags(void **state)
{
    (void)state;
    elvesd_config c;
    char err[256];
    set_env("ELVES_S3_ACCESS_KEY", "AKIAVISIBLE", "ELVES_S3_SECRET_KEY",
            "s3cr3t-value");
    char *argv[] = {"elvesd", "--database",
                    "postgres://app:pgpass@127.0.0.1:5432/hub",
                    "--chunk-store",
                    "s3://bucket/pre?endpoint=http://127.0.0.1:9000"};
    assert_int_equal(parse(&c, 5, argv, err), CONFIG_RUN);
    assert_string_equal(c.database, "postgres://app:pgpass@127.0.0.1:5432/hub");
    assert_string_equal(c.s3_secret_key, "s3cr3t-value");
    assert_int_equal(c.job_lease_s, 60);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    config_print(f, &c);
    fclose(f);
    assert_null(strstr(text, "pgpass"));
    assert_null(strstr(text, "s3cr3t-value"));
    assert_null(strstr(text, "AKIAVISIBLE"));
    assert_non_null(strstr(text, "database = \"postgres://app:********@"
                                 "127.0.0.1:5432/hub\""));
    assert_non_null(strstr(text, "s3-secret-key = \"********\""));
    free(text);

    set_env(NULL, NULL, NULL, NULL);
    char *bad_db[] = {"elvesd", "--database", "mysql://x@y/z"};
    assert_int_equal(parse(&c, 3, bad_db, err), CONFIG_ERROR);
    assert_non_null(strstr(err, "postgres://"));
    char *bad_cs[] = {"elvesd", "--chunk-store", "/srv/packs"};
    assert_int_equal(parse(&c, 3, bad_cs, err), CONFIG_ERROR);
    assert_non_null(strstr(err, "s3://"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_and_precedence),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_proxy_flags),
        cmocka_unit_test(test_print_config),
        cmocka_unit_test(test_scaleout_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
