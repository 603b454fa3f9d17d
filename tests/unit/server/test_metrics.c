/*
 * test_metrics.c - server/base/metrics.c: request series counted once per
 * (route, method, status) also from many threads at once, overflow into
 * route="other", the latency histogram (cumulative, +Inf = count), store
 * hooks, label escaping, and output that is valid Prometheus text.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

/* The rendered text, malloc'd. */
static char *render(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    metrics_write(f);
    fclose(f);
    return text;
}

/* The value of the sample line that starts with `series ` (exact). */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p)
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    fail_msg("no sample %s", series);
    return -1;
}

/* Every line is a comment (# HELP/# TYPE) or "name{labels} number". */
static void check_format(const char *text)
{
    char *copy = strdup(text);
    char *save = NULL;
    for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (l[0] == '#') {
            assert_true(strncmp(l, "# HELP ", 7) == 0 ||
                        strncmp(l, "# TYPE ", 7) == 0);
            continue;
        }
        char *sp = strrchr(l, ' ');
        assert_non_null(sp);
        char *end;
        strtod(sp + 1, &end);
        assert_true(*end == '\0');
        assert_true(l[0] == '_' || (l[0] >= 'a' && l[0] <= 'z'));
    }
    free(copy);
}

static void test_requests_and_bytes(void **state)
{
    metrics_reset();
    metrics_http_request("/api/v1/repos", "GET", 200, 0, 100, 0.001);
    metrics_http_request("/api/v1/repos", "GET", 200, 0, 50, 0.2);
    metrics_http_request("/api/v1/repos", "POST", 201, 30, 10, 7.0);
    metrics_http_request(NULL, "GET", 404, 0, 5, 400.0);
    char *t = render();
    check_format(t);
    assert_int_equal(sample(t, "elves_http_requests_total{route=\"/api/v1/"
                               "repos\",method=\"GET\",status=\"200\"}"),
                     2);
    assert_int_equal(sample(t, "elves_http_requests_total{route=\"/api/v1/"
                               "repos\",method=\"POST\",status=\"201\"}"),
                     1);
    assert_int_equal(sample(t, "elves_http_requests_total{route=\"unmatched\","
                               "method=\"GET\",status=\"404\"}"),
                     1);
    assert_int_equal(sample(t, "elves_http_received_bytes_total"), 30);
    assert_int_equal(sample(t, "elves_http_sent_bytes_total"), 165);
    const char *h = "elves_http_request_duration_seconds";
    char name[128];
    snprintf(name, sizeof name, "%s_bucket{le=\"0.005\"}", h);
    assert_int_equal(sample(t, name), 1);
    snprintf(name, sizeof name, "%s_bucket{le=\"0.25\"}", h);
    assert_int_equal(sample(t, name), 2);
    snprintf(name, sizeof name, "%s_bucket{le=\"10\"}", h);
    assert_int_equal(sample(t, name), 3);
    snprintf(name, sizeof name, "%s_bucket{le=\"300\"}", h);
    assert_int_equal(sample(t, name), 3);
    snprintf(name, sizeof name, "%s_bucket{le=\"+Inf\"}", h);
    assert_int_equal(sample(t, name), 4);
    snprintf(name, sizeof name, "%s_count", h);
    assert_int_equal(sample(t, name), 4);
    snprintf(name, sizeof name, "%s_sum", h);
    assert_true(sample(t, name) > 407.2 && sample(t, name) < 407.21);
    free(t);
}

/* Lines starting with prefix. */
static int count_lines(const char *text, const char *prefix)
{
    int n = 0;
    size_t len = strlen(prefix);
    for (const char *l = text; *l; l++) {
        if (strncmp(l, prefix, len) == 0)
            n++;
        l = strchr(l, '\n');
        if (l == NULL)
            break;
    }
    return n;
}

static void *hammer(void *arg)
{
    static const char *routes[] = {"/a", "/b", "/c", "/d"};
    for (int i = 0; i < 20000; i++)
        metrics_http_request(routes[i % 4], "GET", 200 + (unsigned)(i % 3), 1,
                             2, 0.0001);
    return arg;
}

static void test_threads(void **state)
{
    metrics_reset();
    pthread_t th[8];
    for (int i = 0; i < 8; i++)
        pthread_create(&th[i], NULL, hammer, NULL);
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    char *t = render();
    check_format(t);
    /* 12 series, each exactly once in the output, summing to 160000 */
    assert_int_equal(count_lines(t, "elves_http_requests_total{"), 12);
    /* i % 12 == 0 for 1667 of 0..19999, in each of 8 threads */
    assert_int_equal(sample(t, "elves_http_requests_total{route=\"/a\","
                               "method=\"GET\",status=\"200\"}"),
                     8 * 1667);
    assert_int_equal(sample(t, "elves_http_request_duration_seconds_count"),
                     160000);
    assert_int_equal(sample(t, "elves_http_received_bytes_total"), 160000);
    assert_int_equal(sample(t, "elves_http_sent_bytes_total"), 320000);
    free(t);
}

static void test_overflow(void **state)
{
    metrics_reset();
    for (unsigned i = 0; i < METRICS_MAX_SERIES + 10; i++)
        metrics_http_request("/x", "GET", 100 + i, 0, 0, 0);
    char *t = render();
    check_format(t);
    assert_int_equal(sample(t, "elves_http_requests_total{route=\"other\","
                               "method=\"-\",status=\"0\"}"),
                     10);
    free(t);
}

static void test_store_hooks(void **state)
{
    metrics_reset();
    metrics_dedup_file();
    metrics_dedup_tensor();
    metrics_dedup_tensor();
    metrics_cache_lookup(1);
    metrics_cache_lookup(1);
    metrics_cache_lookup(1);
    metrics_cache_lookup(0);
    metrics_chunkstore_error("get");
    metrics_chunkstore_error("weird");
    metrics_workers_total(4);
    metrics_worker_busy(1);
    char *t = render();
    check_format(t);
    assert_int_equal(sample(t, "elves_dedup_hits_total{kind=\"file\"}"), 1);
    assert_int_equal(sample(t, "elves_dedup_hits_total{kind=\"tensor\"}"), 2);
    assert_true(sample(t, "elves_cache_hit_ratio") == 0.75);
    assert_int_equal(sample(t, "elves_chunkstore_errors_total{op=\"get\"}"), 1);
    assert_int_equal(sample(t, "elves_chunkstore_errors_total{op=\"other\"}"),
                     1);
    assert_true(sample(t, "elves_worker_utilization") == 0.25);
    free(t);
    metrics_worker_busy(-1);
    t = render();
    assert_int_equal(sample(t, "elves_workers_busy"), 0);
    assert_true(sample(t, "elves_worker_busy_seconds_total") >= 0);
    free(t);
}

static void test_label_escape(void **state)
{
    char out[32];
    metrics_label_escape(out, sizeof out, "a\"b\\c\nd");
    assert_string_equal(out, "a\\\"b\\\\c\\nd");
    metrics_label_escape(out, 4, "abcdef");
    assert_string_equal(out, "ab");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requests_and_bytes),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_overflow),
        cmocka_unit_test(test_store_hooks),
        cmocka_unit_test(test_label_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
