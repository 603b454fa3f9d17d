/*
 * s3_test_util.h - what the tests that run on a real S3 service (ctest's
 * unit.s3_rgw, under tests/tools/with-rgw.sh) share: the bucket of the
 * environment with a fresh prefix per call, the store URL naming it, and
 * the fault proxy (tests/tools/s3-fault-proxy.py) that answers 503 on
 * request.  Header-only; the program defines ELVES_SOURCE_DIR (CMake).
 */
#ifndef S3_TEST_UTIL_H
#define S3_TEST_UTIL_H

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "s3.h"

#define S3T_FN static __attribute__((unused))

static int s3t_prefix_seq;

/* The S3 settings of the environment, with a prefix of their own so every
 * test starts from an empty "folder" of the bucket. */
S3T_FN void s3_env_config(s3_config *c, const char *endpoint)
{
    es_err err;
    const char *url = getenv("ELVES_TEST_S3");
    if (s3_url_parse(c, url, &err) != 0)
        fail_msg("ELVES_TEST_S3: %s", err.msg);
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%s/%d-%d", c->prefix, (int)getpid(),
             ++s3t_prefix_seq);
    free(c->prefix);
    c->prefix = strdup(prefix);
    if (endpoint) {
        free(c->endpoint);
        c->endpoint = strdup(endpoint);
    }
    assert_int_equal(s3_config_set_keys(c, getenv("ELVES_S3_ACCESS_KEY"),
                                        getenv("ELVES_S3_SECRET_KEY"), &err),
                     0);
    c->backoff_ms = 20;
    c->connect_timeout_ms = 2000;
}

/* The s3:// URL of c's bucket and prefix, as store_config.chunk_store. */
S3T_FN void s3_store_url(const s3_config *c, char *url, size_t cap)
{
    snprintf(url, cap, "s3://%s/%s?endpoint=%s&region=%s&path_style=%d",
             c->bucket, c->prefix, c->endpoint, c->region, c->path_style);
}

/* ---- the fault proxy --------------------------------------------------------
 */

typedef struct proxy {
    pid_t pid;
    int port;
    char endpoint[64]; /* "http://127.0.0.1:PORT" */
    char faults[4200];
} proxy;

S3T_FN void proxy_start(proxy *p, const char *dir, int port)
{
    char port_file[4200], port_arg[16];
    snprintf(port_file, sizeof port_file, "%s/port", dir);
    snprintf(p->faults, sizeof p->faults, "%s/faults", dir);
    snprintf(port_arg, sizeof port_arg, "%d", port);
    unlink(port_file);
    p->pid = fork();
    if (p->pid == 0) {
        execlp("python3", "python3",
               ELVES_SOURCE_DIR "/tests/tools/s3-fault-proxy.py",
               getenv("ELVES_TEST_S3_ENDPOINT"), port_arg, port_file,
               p->faults, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(port_file, "r");
        if (f) {
            int ok = fscanf(f, "%d", &p->port) == 1;
            fclose(f);
            if (ok) {
                snprintf(p->endpoint, sizeof p->endpoint,
                         "http://127.0.0.1:%d", p->port);
                return;
            }
        }
        usleep(50000);
    }
    fail_msg("the fault proxy did not start");
}

S3T_FN void proxy_stop(proxy *p)
{
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
}

S3T_FN void proxy_arm(proxy *p, const char *rules)
{
    FILE *f = fopen(p->faults, "w");
    fputs(rules, f);
    fclose(f);
}

/* Counts left in the fault file ("PUT 0\n..." once all were used). */
S3T_FN int proxy_left(proxy *p)
{
    FILE *f = fopen(p->faults, "r");
    char m[16], t[64];
    int n, left = 0;
    while (f && fscanf(f, "%15s %d", m, &n) == 2) {
        left += n;
        if (fgetc(f) == ' ' && fscanf(f, "%63s", t) != 1)
            break;
    }
    if (f)
        fclose(f);
    return left;
}

#endif /* S3_TEST_UTIL_H */
