/*
 * config.c - elvesd's flags, environment variables and config file.
 *
 * One table lists every setting (flag, variable, default, help); defaults,
 * the config file, the environment and argv all go through the same
 * per-type setter, so a default is spelled exactly as a user would type it.
 */
#include "config.h"

#include "proxy.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef enum opt_type {
    OPT_PATH,   /* char[4096] */
    OPT_LISTEN, /* host + port */
    OPT_UINT,   /* unsigned */
    OPT_SIZE,   /* size_t */
    OPT_DOUBLE, /* double in [0, 1] */
    OPT_LOGFMT, /* config_log_format */
    OPT_CIDRS,  /* char[4096], a --trusted-proxy list */
    OPT_URL,    /* char[1024], "" or a --public-url */
    OPT_TEXT,   /* char[1024], free text (a token) */
    OPT_DBURL,  /* char[1024], "" or a postgres:// URL */
    OPT_S3URL,  /* char[1024], "" or an s3:// URL */
    OPT_FILE    /* char[4096], may be empty */
} opt_type;

typedef struct opt_def {
    const char *flag; /* without the leading "--" */
    const char *env;
    const char *metavar;
    const char *def; /* default, as typed */
    opt_type type;
    size_t offset;          /* field in elvesd_config */
    unsigned long min, max; /* bounds for OPT_UINT / OPT_SIZE */
    const char *help;
} opt_def;

#define FIELD(f) offsetof(elvesd_config, f)

static const opt_def options[] = {
    {"data", "ELVES_DATA", "DIR", "./data", OPT_PATH, FIELD(data_dir), 0, 0,
     "data directory: SQLite database, chunk packs, spool"},
    {"listen", "ELVES_LISTEN", "HOST:PORT", "127.0.0.1:8080", OPT_LISTEN, 0, 0,
     0,
     "address to listen on; port 0 picks a free port (printed as "
     "\"listening on HOST:PORT\" on stderr)"},
    {"workers", "ELVES_WORKERS", "N", "0", OPT_UINT, FIELD(workers), 0, 1024,
     "compression worker threads; 0 = number of cores"},
    {"decode-threads", "ELVES_DECODE_THREADS", "N", "0", OPT_UINT,
     FIELD(decode_threads), 0, 1024,
     "threads one download may decode on; 0 = number of cores"},
    {"cache-mb", "ELVES_CACHE_MB", "N", "64", OPT_SIZE, FIELD(cache_mb), 0,
     1u << 20, "decoded-block cache size in MiB"},
    {"compact-below", "ELVES_COMPACT_BELOW", "F", "0.5", OPT_DOUBLE,
     FIELD(compact_below), 0, 0,
     "compact chunk packs whose live fraction is below F (0..1)"},
    {"io-threads", "ELVES_IO_THREADS", "N", "0", OPT_UINT, FIELD(io_threads), 0,
     1024,
     "HTTP threads polling connections (epoll); 0 = one thread per "
     "connection"},
    {"max-connections", "ELVES_MAX_CONNECTIONS", "N", "1024", OPT_UINT,
     FIELD(max_connections), 1, 1000000, "concurrent connections accepted"},
    {"max-header-bytes", "ELVES_MAX_HEADER_BYTES", "N", "32768", OPT_SIZE,
     FIELD(max_header_bytes), 1024, 16u << 20,
     "largest request line + headers; larger gets 431"},
    {"max-json-bytes", "ELVES_MAX_JSON_BYTES", "N", "1048576", OPT_SIZE,
     FIELD(max_json_bytes), 1024, 1u << 30,
     "largest JSON request body; larger gets 413"},
    {"timeout", "ELVES_TIMEOUT", "SECONDS", "300", OPT_UINT, FIELD(timeout_s),
     0, 86400, "close connections idle this long; 0 = never"},
    {"shutdown-grace", "ELVES_SHUTDOWN_GRACE", "SECONDS", "10", OPT_UINT,
     FIELD(shutdown_grace_s), 0, 3600,
     "on SIGTERM/SIGINT, wait this long for requests in flight"},
    {"log-format", "ELVES_LOG_FORMAT", "text|json", "text", OPT_LOGFMT, 0, 0, 0,
     "request log format on stderr"},
    {"trusted-proxy", "ELVES_TRUSTED_PROXY", "CIDR,...", PROXY_DEFAULT_TRUSTED,
     OPT_CIDRS, FIELD(trusted_proxy), 0, 0,
     "peers whose X-Forwarded-*/Forwarded headers are believed (\"none\": "
     "nobody)"},
    {"public-url", "ELVES_PUBLIC_URL", "URL", "", OPT_URL, FIELD(public_url),
     0, 0,
     "base of every absolute URL returned (https://hub.example/prefix); "
     "empty: from the request and trusted proxy headers"},
    {"config", "ELVES_CONFIG", "FILE", "", OPT_FILE, FIELD(config_file), 0, 0,
     "config file of \"key = value\" lines (keys: flag or variable "
     "names); flags and variables win over it"},
    {"require-auth", "ELVES_REQUIRE_AUTH", "0|1", "0", OPT_UINT,
     FIELD(require_auth), 0, 1,
     "1: every write needs a write token (else only once a token exists; "
     "make one with: elvesd token create --name N --write)"},
    {"upstream", "ELVES_UPSTREAM", "URL", "", OPT_URL, FIELD(upstream), 0, 0,
     "mirror this hub (https://huggingface.co): repositories not held here "
     "are fetched from it on first use and kept; empty: no mirror"},
    {"upstream-token", "ELVES_UPSTREAM_TOKEN", "TOKEN", "", OPT_TEXT,
     FIELD(upstream_token), 0, 0,
     "Bearer token sent to the upstream (gated or private repositories)"},
    {"upstream-ttl", "ELVES_UPSTREAM_TTL", "SECONDS", "300", OPT_UINT,
     FIELD(upstream_ttl), 0, 31536000,
     "re-resolve a branch or tag on the upstream at most this often "
     "(commit ids: never)"},
    {"database", "ELVES_DATABASE", "URL", "", OPT_DBURL, FIELD(database), 0,
     0,
     "metadata database: postgres://USER[:PASS]@HOST:PORT/DB (shared by "
     "replicas); empty: the SQLite file DIR/elves.db"},
    {"chunk-store", "ELVES_CHUNK_STORE", "URL", "", OPT_S3URL,
     FIELD(chunk_store), 0, 0,
     "chunk store: s3://BUCKET/PREFIX?endpoint=URL&region=R[&path_style=1] "
     "(shared by replicas; uploads are spooled there too); empty: pack "
     "files in DIR/packs"},
    {"s3-access-key", "ELVES_S3_ACCESS_KEY", "KEY", "", OPT_TEXT,
     FIELD(s3_access_key), 0, 0, "access key id for an s3:// chunk store"},
    {"s3-secret-key", "ELVES_S3_SECRET_KEY", "SECRET", "", OPT_TEXT,
     FIELD(s3_secret_key), 0, 0, "secret key for an s3:// chunk store"},
    {"gc-grace", "ELVES_GC_GRACE", "SECONDS", "0", OPT_UINT, FIELD(gc_grace_s),
     0, 31536000,
     "free a chunk or tensor only once unreferenced this long; 0: 3600 "
     "with --database postgres://, none with SQLite (one process)"},
    {"job-lease", "ELVES_JOB_LEASE", "SECONDS", "60", OPT_UINT,
     FIELD(job_lease_s), 5, 86400,
     "a replica's claim on a compression job lasts this long unless renewed "
     "(every third of it); a job whose replica died is taken over after it"},
};

#define NOPTIONS (sizeof options / sizeof options[0])
_Static_assert(NOPTIONS <= sizeof((elvesd_config *)0)->origin,
               "elvesd_config.origin too small for the option table");

static int fail(char *err, size_t errlen, const char *what, const char *flag,
                const char *value)
{
    snprintf(err, errlen, "--%s: %s: '%s'", flag, what, value);
    return -1;
}

int config_parse_listen(const char *s, char *host, size_t hostlen,
                        unsigned *port)
{
    const char *colon;
    const char *h = s;
    size_t hlen;

    if (s[0] == '[') { /* [v6]:port */
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':')
            return -1;
        h = s + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
            return -1;
        hlen = (size_t)(colon - s);
    }
    if (hlen == 0) {
        h = "127.0.0.1";
        hlen = strlen(h);
    }
    if (hlen >= hostlen)
        return -1;
    char *end;
    errno = 0;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || errno != 0 ||
        p > 65535)
        return -1;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (unsigned)p;
    return 0;
}

static int parse_ulong(const char *v, unsigned long min, unsigned long max,
                       unsigned long *out)
{
    char *end;
    if (v[0] < '0' || v[0] > '9')
        return -1;
    errno = 0;
    unsigned long n = strtoul(v, &end, 10);
    if (*end != '\0' || errno != 0 || n < min || n > max)
        return -1;
    *out = n;
    return 0;
}

/* Strings: checked by proxy.c when they are proxy settings. */
static int set_text(elvesd_config *c, const opt_def *o, const char *v,
                    char *err, size_t errlen)
{
    proxy_config pc;
    size_t cap = o->type == OPT_CIDRS ? sizeof c->trusted_proxy
                 : o->type == OPT_URL ? sizeof c->public_url
                 : o->type == OPT_FILE ? sizeof c->config_file
                                      : sizeof c->upstream_token;
    if (strlen(v) >= cap)
        return fail(err, errlen, "too long", o->flag, v);
    if (o->type == OPT_CIDRS && proxy_config_init(&pc, v, NULL, err, errlen))
        return -1;
    if (o->type == OPT_URL && proxy_config_init(&pc, "", v, err, errlen))
        return -1;
    if (o->type == OPT_DBURL && v[0] != '\0' &&
        strncmp(v, "postgres://", 11) != 0 &&
        strncmp(v, "postgresql://", 13) != 0)
        return fail(err, errlen, "expected postgres://USER[:PASS]@HOST:PORT/DB",
                    o->flag, v);
    if (o->type == OPT_S3URL && v[0] != '\0' && strncmp(v, "s3://", 5) != 0)
        return fail(err, errlen, "expected s3://BUCKET/PREFIX?endpoint=URL",
                    o->flag, v);
    strcpy((char *)c + o->offset, v);
    return 0;
}

/* Applies one value to the field an option names. */
static int set_option(elvesd_config *c, const opt_def *o, const char *v,
                      char *err, size_t errlen)
{
    char *field = (char *)c + o->offset;
    unsigned long n;

    switch (o->type) {
    case OPT_PATH:
        if (v[0] == '\0' || strlen(v) >= sizeof c->data_dir)
            return fail(err, errlen, "bad path", o->flag, v);
        strcpy(field, v);
        return 0;
    case OPT_LISTEN:
        if (config_parse_listen(v, c->listen_host, sizeof c->listen_host,
                                &c->listen_port) != 0)
            return fail(err, errlen, "expected HOST:PORT", o->flag, v);
        return 0;
    case OPT_UINT:
        if (parse_ulong(v, o->min, o->max, &n) != 0)
            return fail(err, errlen, "out of range or not a number", o->flag,
                        v);
        *(unsigned *)(void *)field = (unsigned)n;
        return 0;
    case OPT_SIZE:
        if (parse_ulong(v, o->min, o->max, &n) != 0)
            return fail(err, errlen, "out of range or not a number", o->flag,
                        v);
        *(size_t *)(void *)field = (size_t)n;
        return 0;
    case OPT_DOUBLE: {
        char *end;
        errno = 0;
        double d = strtod(v, &end);
        if (end == v || *end != '\0' || errno != 0 || !(d >= 0 && d <= 1))
            return fail(err, errlen, "expected a number in 0..1", o->flag, v);
        *(double *)(void *)field = d;
        return 0;
    }
    case OPT_CIDRS:
    case OPT_URL:
    case OPT_TEXT:
    case OPT_DBURL:
    case OPT_S3URL:
    case OPT_FILE:
        return set_text(c, o, v, err, errlen);
    case OPT_LOGFMT:
        if (strcmp(v, "text") == 0)
            c->log_format = CONFIG_LOG_TEXT;
        else if (strcmp(v, "json") == 0)
            c->log_format = CONFIG_LOG_JSON;
        else
            return fail(err, errlen, "expected text or json", o->flag, v);
        return 0;
    }
    return -1;
}

static const opt_def *find_flag(const char *name, size_t len)
{
    for (size_t i = 0; i < NOPTIONS; i++)
        if (strlen(options[i].flag) == len &&
            memcmp(options[i].flag, name, len) == 0)
            return &options[i];
    return NULL;
}

static void set_origin(elvesd_config *c, const opt_def *o, int from)
{
    c->origin[o - options] = (unsigned char)from;
}

static int apply_defaults(elvesd_config *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < NOPTIONS; i++)
        if (set_option(out, &options[i], options[i].def, err, errlen) != 0)
            return -1;
    return 0;
}

static const opt_def *find_key(const char *key)
{
    for (size_t i = 0; i < NOPTIONS; i++)
        if (strcmp(options[i].flag, key) == 0 ||
            strcmp(options[i].env, key) == 0)
            return &options[i];
    return NULL;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && strchr(" \t\r\n", s[n - 1]) != NULL)
        s[--n] = '\0';
    return s;
}

/* One "key = value" line; blank lines and '#' comments are skipped. */
static int apply_file_line(elvesd_config *out, char *line, char *err,
                           size_t errlen)
{
    char *l = trim(line);
    if (*l == '\0' || *l == '#')
        return 0;
    char *eq = strchr(l, '=');
    if (eq == NULL) {
        snprintf(err, errlen, "expected key = value");
        return -1;
    }
    *eq = '\0';
    char *key = trim(l), *v = trim(eq + 1);
    size_t vlen = strlen(v);
    if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
        v[vlen - 1] = '\0';
        v++;
    }
    const opt_def *o = find_key(key);
    if (o == NULL || o->offset == FIELD(config_file)) {
        snprintf(err, errlen, "unknown key '%s'", key);
        return -1;
    }
    if (set_option(out, o, v, err, errlen) != 0)
        return -1;
    set_origin(out, o, CONFIG_FROM_FILE);
    return 0;
}

static int apply_file(elvesd_config *out, const char *path, char *err,
                      size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "config file %s: %s", path, strerror(errno));
        return -1;
    }
    char line[8192], why[512];
    int rc = 0;
    for (unsigned n = 1; rc == 0 && fgets(line, sizeof line, f); n++) {
        if ((rc = apply_file_line(out, line, why, sizeof why)) != 0)
            snprintf(err, errlen, "%s:%u: %s", path, n, why);
    }
    fclose(f);
    return rc;
}

static int apply_env(elvesd_config *out, config_getenv_fn env, char *err,
                     size_t errlen)
{
    for (size_t i = 0; env != NULL && i < NOPTIONS; i++) {
        const char *v = env(options[i].env);
        if (v == NULL || v[0] == '\0')
            continue;
        if (set_option(out, &options[i], v, err, errlen) != 0) {
            size_t n = strlen(err);
            snprintf(err + n, errlen - n, " (from %s)", options[i].env);
            return -1;
        }
        set_origin(out, &options[i], CONFIG_FROM_ENV);
    }
    return 0;
}

/* The config file named on the command line (it must be read before the
 * environment and the other flags, which win over it), else by env. */
static const char *config_path(int argc, char **argv, config_getenv_fn env)
{
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--config=", 9) == 0)
            return argv[i] + 9;
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            return argv[i + 1];
    }
    const char *v = env ? env("ELVES_CONFIG") : NULL;
    return v != NULL && v[0] != '\0' ? v : NULL;
}

/* argv[1..argc): flags win over everything. */
static config_action apply_flags(elvesd_config *out, int argc, char **argv,
                                 char *err, size_t errlen)
{
    config_action action = CONFIG_RUN;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return CONFIG_HELP;
        if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0)
            return CONFIG_VERSION;
        if (strcmp(a, "--print-config") == 0) {
            action = CONFIG_PRINT; /* after the other flags are applied */
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument '%s'", a);
            return CONFIG_ERROR;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const opt_def *o = find_flag(name, nlen);
        if (o == NULL) {
            snprintf(err, errlen, "unknown flag '%s' (see --help)", a);
            return CONFIG_ERROR;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (v == NULL) {
            snprintf(err, errlen, "--%s needs a value (%s)", o->flag,
                     o->metavar);
            return CONFIG_ERROR;
        }
        if (set_option(out, o, v, err, errlen) != 0)
            return CONFIG_ERROR;
        set_origin(out, o, CONFIG_FROM_FLAG);
    }
    return action;
}

config_action config_parse(elvesd_config *out, int argc, char **argv,
                           config_getenv_fn env, char *err, size_t errlen)
{
    if (apply_defaults(out, err, errlen) != 0)
        return CONFIG_ERROR;
    const char *file = config_path(argc, argv, env);
    if (file != NULL && apply_file(out, file, err, errlen) != 0)
        return CONFIG_ERROR;
    if (apply_env(out, env, err, errlen) != 0)
        return CONFIG_ERROR;
    return apply_flags(out, argc, argv, err, errlen);
}

/* Settings whose values must not be printed. */
static int is_secret(const opt_def *o)
{
    static const char *words[] = {"token", "secret", "password", "key",
                                  "credential"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strstr(o->flag, words[i]) != NULL)
            return 1;
    return 0;
}

/* "postgres://user:pass@host/db" as "postgres://user:********@host/db". */
static void mask_url_password(const char *url, char *out, size_t cap)
{
    const char *auth = strstr(url, "://");
    const char *at = auth ? strchr(auth + 3, '@') : NULL;
    const char *colon = auth ? strchr(auth + 3, ':') : NULL;
    if (at == NULL || colon == NULL || colon > at) {
        snprintf(out, cap, "%s", url);
        return;
    }
    snprintf(out, cap, "%.*s:********%s", (int)(colon - url), url, at);
}

/* An option's value as a user would type it. */
static void format_value(const elvesd_config *c, const opt_def *o, char *out,
                         size_t cap)
{
    const char *field = (const char *)c + o->offset;
    switch (o->type) {
    case OPT_PATH:
    case OPT_CIDRS:
    case OPT_URL:
    case OPT_TEXT:
    case OPT_S3URL:
    case OPT_FILE:
        snprintf(out, cap, "%s", field);
        return;
    case OPT_DBURL:
        mask_url_password(field, out, cap);
        return;
    case OPT_LISTEN: {
        int v6 = strchr(c->listen_host, ':') != NULL;
        snprintf(out, cap, "%s%s%s:%u", v6 ? "[" : "", c->listen_host,
                 v6 ? "]" : "", c->listen_port);
        return;
    }
    case OPT_UINT:
        snprintf(out, cap, "%u", *(const unsigned *)(const void *)field);
        return;
    case OPT_SIZE:
        snprintf(out, cap, "%zu", *(const size_t *)(const void *)field);
        return;
    case OPT_DOUBLE:
        snprintf(out, cap, "%g", *(const double *)(const void *)field);
        return;
    case OPT_LOGFMT:
        snprintf(out, cap, "%s",
                 c->log_format == CONFIG_LOG_JSON ? "json" : "text");
        return;
    }
    out[0] = '\0';
}

void config_print(FILE *f, const elvesd_config *c)
{
    static const char *from[] = {"default", "config file", "environment",
                                 "flag"};
    fprintf(f, "# elvesd effective configuration (config-file syntax)\n");
    for (size_t i = 0; i < NOPTIONS; i++) {
        const opt_def *o = &options[i];
        char v[4200];
        format_value(c, o, v, sizeof v);
        if (is_secret(o) && v[0] != '\0')
            snprintf(v, sizeof v, "********");
        unsigned src = c->origin[i] < 4 ? c->origin[i] : 0;
        /* a file cannot name another file: that line stays a comment */
        fprintf(f, "# %s, from %s\n%s%s = \"%s\"\n", o->env, from[src],
                o->offset == FIELD(config_file) ? "# " : "", o->flag, v);
    }
}

void config_usage(FILE *f, const char *argv0)
{
    fprintf(f,
            "usage: %s [flags]\n"
            "       %s token create --name NAME [--write] [--data DIR] "
            "[--database URL]\n"
            "       %s migrate --to-database URL --to-chunk-store URL "
            "[flags naming the source]\n"
            "elvesd: model-hub storage server (compressed, deduplicated, "
            "byte-range downloads)\n\n"
            "Every flag can also be set by the environment variable shown; "
            "a flag wins.\n\n",
            argv0, argv0, argv0);
    for (size_t i = 0; i < NOPTIONS; i++) {
        const opt_def *o = &options[i];
        char left[64];
        snprintf(left, sizeof left, "--%s %s", o->flag, o->metavar);
        fprintf(f, "  %-30s %s\n  %-30s env %s, default %s\n", left, o->help,
                "", o->env, o->def);
    }
    fprintf(f, "  %-30s %s\n  %-30s %s\n  %-30s %s\n", "--help", "this text",
            "--version", "print the version and exit", "--print-config",
            "print the effective settings (secrets masked) and exit");
}
