/*
 * config.h - elvesd's settings: command-line flags, ELVES_* environment
 * variables and an optional config file, with their defaults.
 *
 * Every setting has a flag (--data DIR), an environment variable
 * (ELVES_DATA) and a config-file key (data = DIR, or ELVES_DATA = DIR).
 * A flag wins over the variable, the variable over the file, the file over
 * the default.  The file is named by --config FILE or ELVES_CONFIG: lines
 * of "key = value", '#' starts a comment line, a value may be "quoted".  The table in config.c is the single list: parsing, --help and
 * the documentation all come from it.
 */
#ifndef ELVESD_CONFIG_H
#define ELVESD_CONFIG_H

#include <stddef.h>
#include <stdio.h>

typedef enum config_log_format {
    CONFIG_LOG_TEXT = 0,
    CONFIG_LOG_JSON
} config_log_format;

typedef struct elvesd_config {
    char data_dir[4096];       /* --data */
    char listen_host[256];     /* --listen, host part ("127.0.0.1", "::1") */
    unsigned listen_port;      /* --listen, port part; 0 = any free port */
    unsigned workers;          /* --workers; 0 = number of cores */
    unsigned decode_threads;   /* --decode-threads; 0 = number of cores */
    size_t cache_mb;           /* --cache-mb */
    double compact_below;      /* --compact-below */
    unsigned io_threads;       /* --io-threads; 0 = a thread per connection */
    unsigned max_connections;  /* --max-connections */
    size_t max_header_bytes;   /* --max-header-bytes */
    size_t max_json_bytes;     /* --max-json-bytes: JSON request bodies */
    unsigned timeout_s;        /* --timeout: idle connection timeout */
    unsigned shutdown_grace_s; /* --shutdown-grace */
    config_log_format log_format; /* --log-format */
    char trusted_proxy[4096]; /* --trusted-proxy: CIDR list (proxy.h) */
    char public_url[1024];    /* --public-url; "" = from the request */
    char config_file[4096];   /* --config; "" = none */
    unsigned require_auth;    /* --require-auth: writes need a token */
    char upstream[1024];       /* --upstream: hub to mirror; "" = none */
    char upstream_token[1024]; /* --upstream-token */
    unsigned upstream_ttl;     /* --upstream-ttl: seconds a branch pin lasts */
    char database[1024];       /* --database: "" = SQLite in data_dir */
    char chunk_store[1024];    /* --chunk-store: "" = packs in data_dir */
    char s3_access_key[1024];  /* --s3-access-key */
    char s3_secret_key[1024];  /* --s3-secret-key */
    unsigned gc_grace_s;       /* --gc-grace; 0 = by database (config.c) */
    unsigned job_lease_s;      /* --job-lease */
    /* Where each option's value came from (config_print): index into the
     * option table, CONFIG_FROM_*. */
    unsigned char origin[64];
} elvesd_config;

enum { CONFIG_FROM_DEFAULT = 0, CONFIG_FROM_FILE, CONFIG_FROM_ENV,
       CONFIG_FROM_FLAG };

/* What config_parse asks the caller to do next. */
typedef enum config_action {
    CONFIG_RUN = 0,   /* start the server */
    CONFIG_HELP,      /* print config_usage and exit 0 */
    CONFIG_VERSION,   /* print the version and exit 0 */
    CONFIG_PRINT,     /* print config_print and exit 0 (--print-config) */
    CONFIG_ERROR = -1 /* print err and exit 2 */
} config_action;

/* Looks up an environment variable; getenv in elvesd, a table in tests. */
typedef const char *(*config_getenv_fn)(const char *name);

/*
 * Fills *out from defaults, then the environment (through env, which may be
 * NULL for none), then argv[1..argc).  Flags take "--name value" or
 * "--name=value".  On CONFIG_ERROR, err holds a one-line message.
 */
config_action config_parse(elvesd_config *out, int argc, char **argv,
                           config_getenv_fn env, char *err, size_t errlen);

/* Writes the effective settings as a config file (each under a comment
 * saying where it came from); secrets (tokens, passwords, keys) masked. */
void config_print(FILE *f, const elvesd_config *c);

/* Writes the --help text: every flag with its variable and default. */
void config_usage(FILE *f, const char *argv0);

/* Splits "HOST:PORT", "[V6]:PORT" or ":PORT" (host defaults to 127.0.0.1).
 * Returns 0, or -1 if malformed. */
int config_parse_listen(const char *s, char *host, size_t hostlen,
                        unsigned *port);

#endif /* ELVESD_CONFIG_H */
