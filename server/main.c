/*
 * main.c - elvesd entry point: reads the configuration, opens the store,
 * serves HTTP until SIGTERM/SIGINT, then shuts down in order.
 *
 * Shutdown: stop accepting connections, give requests in flight
 * --shutdown-grace seconds (a second signal cuts it short), close the
 * remaining connections (an unfinished upload is discarded, never
 * committed), then close the store, which requeues unfinished jobs.
 *
 * SIGTERM and SIGINT are blocked before any thread starts, so every thread
 * inherits the mask and the signal is taken here by sigwait; otherwise it
 * could land on a libmicrohttpd or worker thread and never wake us.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "config.h"
#include "elves.h"
#include "http.h"
#include "log.h"
#include "hf.h"
#include "mirror.h"
#include "proxy.h"
#include "routes_api.h"
#include "store.h"

static const char *env_lookup(const char *name)
{
    return getenv(name);
}

static void block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN); /* a client that goes away is not fatal */
}

static int open_store(es_store **st, const elvesd_config *cfg)
{
    store_config sc = {
        .data_dir = cfg->data_dir,
        .workers = cfg->workers,
        .decode_threads = cfg->decode_threads,
        .cache_bytes = cfg->cache_mb << 20,
        .compact_below = cfg->compact_below,
        .database = cfg->database[0] ? cfg->database : NULL,
        .chunk_store = cfg->chunk_store[0] ? cfg->chunk_store : NULL,
        .s3_access_key = cfg->s3_access_key,
        .s3_secret_key = cfg->s3_secret_key,
        .gc_grace_s = cfg->gc_grace_s ? cfg->gc_grace_s
                      : cfg->database[0] ? 3600 : 0,
        .job_lease_s = cfg->job_lease_s,
    };
    es_err err = {0};
    if (store_open(st, &sc, &err) != 0) {
        log_msg(LOG_LVL_ERROR, "cannot open data directory %s: %s",
                cfg->data_dir, err.msg);
        return -1;
    }
    return 0;
}

static int start_http(http_server **srv, const elvesd_config *cfg, es_store *st)
{
    static const http_route *const tables[] = {
        routes_ops, routes_native, routes_hf, routes_hf_upload};
    http_options ho = {
        .host = cfg->listen_host,
        .port = cfg->listen_port,
        .io_threads = cfg->io_threads,
        .max_connections = cfg->max_connections,
        .max_header_bytes = cfg->max_header_bytes,
        .max_json_bytes = cfg->max_json_bytes,
        .timeout_s = cfg->timeout_s,
    };
    char err[256];
    if (http_start(srv, &ho, tables, sizeof tables / sizeof tables[0], st, err,
                   sizeof err) != 0) {
        log_msg(LOG_LVL_ERROR, "%s", err);
        return -1;
    }
    int v6 = strchr(cfg->listen_host, ':') != NULL;
    log_msg(LOG_LVL_INFO, "listening on %s%s%s:%u", v6 ? "[" : "",
            cfg->listen_host, v6 ? "]" : "", http_port(*srv));
    return 0;
}

/* Trusted proxies and the public URL, before any thread reads them. */
static int set_proxy(const elvesd_config *cfg)
{
    proxy_config pc;
    char err[256];
    if (proxy_config_init(&pc, cfg->trusted_proxy, cfg->public_url, err,
                          sizeof err) != 0) {
        fprintf(stderr, "elvesd: %s\n", err);
        return -1;
    }
    proxy_set_global(&pc);
    return 0;
}

/* Lets requests in flight finish, up to grace_s or a second signal. */
static void drain(http_server *srv, const sigset_t *set, unsigned grace_s)
{
    unsigned waited_ms = 0, left;
    while ((left = http_wait_idle(srv, 100)) > 0 &&
           waited_ms < grace_s * 1000) {
        struct timespec zero = {0, 0};
        if (sigtimedwait(set, NULL, &zero) > 0) {
            log_msg(LOG_LVL_WARN, "second signal: not waiting any longer");
            break;
        }
        waited_ms += 100;
    }
    if (left > 0)
        log_msg(LOG_LVL_WARN, "closing %u request(s) still in flight", left);
}

int main(int argc, char **argv)
{
    elvesd_config cfg;
    char err[512];
    sigset_t set;
    int sig = 0;

    if (argc > 1 && strcmp(argv[1], "token") == 0)
        return auth_token_command(argc - 1, argv + 1);
    switch (config_parse(&cfg, argc, argv, env_lookup, err, sizeof err)) {
    case CONFIG_HELP:
        config_usage(stdout, argv[0]);
        return 0;
    case CONFIG_VERSION:
        printf("elvesd %s\n", ELVES_VERSION_STRING);
        return 0;
    case CONFIG_PRINT:
        config_print(stdout, &cfg);
        return 0;
    case CONFIG_ERROR:
        fprintf(stderr, "elvesd: %s\n", err);
        return 2;
    case CONFIG_RUN:
        break;
    }
    log_init(cfg.log_format == CONFIG_LOG_JSON);
    if (set_proxy(&cfg) != 0)
        return 2;
    block_signals(&set);

    es_store *st = NULL;
    http_server *srv = NULL;
    if (open_store(&st, &cfg) != 0)
        return 1;
    if (auth_init(cfg.data_dir, (int)cfg.require_auth, err, sizeof err) != 0 ||
        mirror_init(cfg.upstream, cfg.upstream_token, cfg.upstream_ttl, err,
                    sizeof err) != 0) {
        log_msg(LOG_LVL_ERROR, "%s", err);
        store_close(st);
        return 1;
    }
    if (start_http(&srv, &cfg, st) != 0) {
        store_close(st);
        return 1;
    }
    sigwait(&set, &sig);
    log_msg(LOG_LVL_INFO, "%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    http_quiesce(srv);
    drain(srv, &set, cfg.shutdown_grace_s);
    http_stop(srv);
    store_close(st);
    mirror_shutdown();
    log_msg(LOG_LVL_INFO, "stopped");
    return 0;
}
