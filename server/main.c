/*
 * main.c - elvesd entry point: reads the configuration, opens the store,
 * serves HTTP until SIGTERM/SIGINT, then shuts down in order.  The
 * subcommands `elvesd token` (api/auth.c) and `elvesd migrate`
 * (store/store_migrate.c) run instead of the server.
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
#include <unistd.h>
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
        routes_ops, routes_native, routes_hf, routes_hf_upload,
        routes_hf_repo};
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

/* "1.2 GB" */
static void human(char *out, size_t cap, int64_t n)
{
    static const char *units[] = {"B", "kB", "MB", "GB", "TB"};
    double v = (double)n;
    size_t u = 0;
    while (v >= 1000 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1000;
        u++;
    }
    snprintf(out, cap, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static void migrate_print(FILE *f, const store_migrate_report *r)
{
    char logical[32], stored[32], moved[32];
    human(logical, sizeof logical, r->logical_bytes);
    human(stored, sizeof stored, r->chunk_bytes);
    human(moved, sizeof moved, r->bytes_new);
    fprintf(f,
            "migrate: %lld repos, %lld file versions (%lld stored, %lld "
            "spooled, %lld failed), %lld chunks (%s logical, %s stored), "
            "%lld tokens copied in %.1f s (this run: %lld new rows, %lld "
            "new chunks of %s, %lld spool files); %lld/%lld verified by "
            "SHA-256 in %.1f s\n",
            (long long)r->repos, (long long)r->files,
            (long long)r->files_stored, (long long)r->files_spooled,
            (long long)r->files_failed, (long long)r->chunks, logical, stored,
            (long long)r->tokens, r->copy_s, (long long)r->rows_new,
            (long long)r->chunks_new, moved, (long long)r->spools_new,
            (long long)r->verified, (long long)r->verifiable, r->verify_s);
}

static int migrate_usage(FILE *f)
{
    fprintf(f,
            "usage: elvesd migrate --to-database postgres://... "
            "--to-chunk-store s3://BUCKET/PREFIX?endpoint=URL [flags]\n"
            "copies the single-node store of --data DIR (or ELVES_DATA, or "
            "the config file) into PostgreSQL + S3 and reads every file "
            "back; safe to run again after an interruption.  S3 keys: "
            "--s3-access-key/--s3-secret-key or ELVES_S3_ACCESS_KEY/"
            "ELVES_S3_SECRET_KEY.\n");
    return 2;
}

/* The --to-* flags are migrate's own; every other flag names the source
 * as it would for the server (config.h). */
static int take_flag(char **argv, int *i, const char *name, const char **out)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return 0;
    if (argv[*i][n] == '=')
        *out = argv[*i] + n + 1;
    else if (argv[*i][n] == '\0' && argv[*i + 1])
        *out = argv[++*i];
    else
        return 0;
    return 1;
}

static int migrate_command(int argc, char **argv)
{
    const char *to_db = NULL, *to_cs = NULL;
    char **rest = calloc((size_t)argc + 1, sizeof *rest), err[512];
    int n = 0;
    if (!rest)
        return 1;
    rest[n++] = argv[0];
    for (int i = 1; i < argc; i++)
        if (!take_flag(argv, &i, "--to-database", &to_db) &&
            !take_flag(argv, &i, "--to-chunk-store", &to_cs))
            rest[n++] = argv[i];
    elvesd_config cfg;
    config_action a = config_parse(&cfg, n, rest, env_lookup, err, sizeof err);
    free(rest);
    if (a == CONFIG_ERROR)
        fprintf(stderr, "elvesd migrate: %s\n", err);
    if (a != CONFIG_RUN || !to_db || !to_cs)
        return a == CONFIG_HELP ? (migrate_usage(stdout), 0)
                                : migrate_usage(stderr);
    if (cfg.database[0] || cfg.chunk_store[0]) {
        fprintf(stderr, "elvesd migrate: the source is already on %s: "
                "migrate copies a single-node store (--data DIR, SQLite and "
                "pack files) into PostgreSQL + S3\n",
                cfg.database[0] ? "PostgreSQL (--database/ELVES_DATABASE)"
                                : "S3 (--chunk-store/ELVES_CHUNK_STORE)");
        return 2;
    }
    log_init(cfg.log_format == CONFIG_LOG_JSON);
    store_migrate_config mc = {.data_dir = cfg.data_dir,
                               .to_database = to_db,
                               .to_chunk_store = to_cs,
                               .s3_access_key = cfg.s3_access_key,
                               .s3_secret_key = cfg.s3_secret_key};
    store_migrate_report r;
    es_err e = {0};
    int rc = store_migrate(&mc, &r, &e);
    if (rc == 0 || r.verifiable > 0) /* what was copied, and read back */
        migrate_print(rc == 0 ? stdout : stderr, &r);
    if (rc < 0) {
        fprintf(stderr, "elvesd migrate: %s\n", e.msg);
        return 1;
    }
    return 0;
}

static void fsck_line(void *ctx, const char *text)
{
    fprintf(ctx, "fsck: %s\n", text);
}

/* elvesd fsck [--repair] [server flags]: 0 clean (or all repaired), 1
 * problems left, 2 usage or the store did not open. */
static int fsck_command(int argc, char **argv)
{
    char **rest = calloc((size_t)argc + 1, sizeof *rest), err[512];
    int n = 0, repair = 0;
    if (!rest)
        return 1;
    rest[n++] = argv[0];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--repair") == 0)
            repair = 1;
        else
            rest[n++] = argv[i];
    }
    elvesd_config cfg;
    config_action a = config_parse(&cfg, n, rest, env_lookup, err, sizeof err);
    free(rest);
    if (a != CONFIG_RUN) {
        if (a == CONFIG_ERROR)
            fprintf(stderr, "elvesd fsck: %s\n", err);
        fprintf(a == CONFIG_HELP ? stdout : stderr,
                "usage: elvesd fsck [--repair] [--data DIR | --database URL "
                "--chunk-store URL ...]\nchecks the metadata against itself "
                "and the chunk store; --repair recomputes reference counts, "
                "dead marks and pack totals (stop elvesd first).\n");
        return a == CONFIG_HELP ? 0 : 2;
    }
    log_init(cfg.log_format == CONFIG_LOG_JSON);
    char db[4200];
    snprintf(db, sizeof db, "%s/elves.db", cfg.data_dir);
    if (!cfg.database[0] && access(db, F_OK) != 0) {
        fprintf(stderr, "elvesd fsck: no store in %s (no elves.db)\n",
                cfg.data_dir);
        return 2;
    }
    es_store *st = NULL;
    store_config sc = {.data_dir = cfg.data_dir,
                       .database = cfg.database[0] ? cfg.database : NULL,
                       .chunk_store =
                           cfg.chunk_store[0] ? cfg.chunk_store : NULL,
                       .s3_access_key = cfg.s3_access_key,
                       .s3_secret_key = cfg.s3_secret_key,
                       .no_workers = 1};
    es_err e = {0};
    if (store_open(&st, &sc, &e) != 0) {
        fprintf(stderr, "elvesd fsck: cannot open %s: %s\n", cfg.data_dir,
                e.msg);
        return 2;
    }
    store_fsck_report r;
    int rc = store_fsck(st, repair, fsck_line, stdout, &r, &e);
    store_close(st);
    if (rc < 0) {
        fprintf(stderr, "elvesd fsck: %s\n", e.msg);
        return 2;
    }
    char stored[32], chunks[32], dead[32];
    human(stored, sizeof stored, r.container_bytes);
    human(chunks, sizeof chunks, r.chunk_bytes);
    human(dead, sizeof dead, r.dead_bytes);
    int64_t left = r.problems - r.repaired;
    printf("fsck: %s: %lld metadata checks, %lld problems%s%lld chunks (%s) "
           "in %lld containers (%s stored), %s not in live chunks (%lld "
           "containers no chunk row names)\n",
           left ? "PROBLEMS" : "clean", (long long)r.checks,
           (long long)r.problems, r.repaired ? " (some repaired), " : ", ",
           (long long)r.chunks, chunks, (long long)r.containers, stored, dead,
           (long long)r.orphans);
    return left ? 1 : 0;
}

int main(int argc, char **argv)
{
    elvesd_config cfg;
    char err[512];
    sigset_t set;
    int sig = 0;

    if (argc > 1 && strcmp(argv[1], "token") == 0)
        return auth_token_command(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "migrate") == 0)
        return migrate_command(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "fsck") == 0)
        return fsck_command(argc - 1, argv + 1);
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
