/*
 * auth.c - tokens on requests, read/write rules, signed upload URLs and
 * the `elvesd token create` command (see auth.h for the rules).
 *
 * The signing secret lives in the data directory so upload URLs stay valid
 * across restarts and across replicas sharing the directory; it never
 * leaves the server.
 */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "util.h"

#define SECRET_LEN 32

static uint8_t secret[SECRET_LEN];
static int require_auth;

static int read_secret(const char *path, char *err, size_t errlen)
{
    char hex[2 * SECRET_LEN + 1] = "";
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t got = fread(hex, 1, 2 * SECRET_LEN, f);
    fclose(f);
    if (got != 2 * SECRET_LEN || es_unhex(secret, hex, SECRET_LEN) < 0) {
        snprintf(err, errlen, "%s: not 64 hex digits", path);
        return -1;
    }
    return 0;
}

static int write_secret(const char *path, char *err, size_t errlen)
{
    char hex[2 * SECRET_LEN + 2];
    if (RAND_bytes(secret, SECRET_LEN) != 1) {
        snprintf(err, errlen, "no random bytes for the secret");
        return -1;
    }
    elves_hex(hex, secret, SECRET_LEN);
    strcat(hex, "\n");
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == EEXIST ? 1 : -1;
    ssize_t n = write(fd, hex, strlen(hex));
    int ok = n == (ssize_t)strlen(hex) && fsync(fd) == 0;
    close(fd);
    if (!ok) {
        unlink(path);
        snprintf(err, errlen, "%s: cannot write", path);
        return -1;
    }
    return 0;
}

int auth_init(const char *data_dir, int require, char *err, size_t errlen)
{
    char path[4200];
    err[0] = '\0';
    require_auth = require;
    snprintf(path, sizeof path, "%s/hf_secret", data_dir);
    int rc = write_secret(path, err, errlen);
    if (rc == 1) /* exists: another start made it */
        return read_secret(path, err, errlen);
    if (rc < 0 && err[0] == '\0')
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return rc;
}

/* ---- tokens on requests ---------------------------------------------------- */

int auth_token(http_req *req, hf_token *out, es_err *err)
{
    const char *h = http_header(req, "Authorization");
    if (!h)
        return 0;
    if (strncasecmp(h, "Bearer ", 7) != 0)
        return es_errf(err, 401, "Authorization must be 'Bearer hf_...'");
    const char *tok = h + 7;
    while (*tok == ' ')
        tok++;
    if (store_token_check(http_app(req), tok, out, err) < 0)
        return -1;
    return 1;
}

static int writes_guarded(http_req *req, es_err *err)
{
    int64_t n = 0;
    if (require_auth)
        return 1;
    if (store_token_count(http_app(req), &n, err) < 0)
        return -1;
    return n > 0;
}

int auth_check_write(http_req *req, es_err *err)
{
    hf_token t;
    int has = auth_token(req, &t, err);
    if (has < 0)
        return -1;
    int guarded = writes_guarded(req, err);
    if (guarded < 0)
        return -1;
    if (!guarded)
        return 0;
    if (!has)
        return es_errf(err, 401, "a write token is required "
                                 "(Authorization: Bearer hf_...)");
    if (!t.can_write)
        return es_errf(err, 403, "token '%s' is read-only", t.name);
    return 0;
}

int auth_check_read(http_req *req, const hf_repo *r, es_err *err)
{
    hf_token t;
    int has = auth_token(req, &t, err);
    if (has < 0)
        return -1;
    if (r->is_private && !has)
        return es_errf(err, 401, "repository '%s' is private: send a token",
                       r->name);
    return 0;
}

int auth_require_write(http_req *req)
{
    es_err e = {0};
    if (auth_check_write(req, &e) == 0)
        return 0;
    http_respond_err(req, &e);
    return -1;
}

int auth_may_read(http_req *req, const char *repo)
{
    hf_repo r;
    es_err e = {0};
    return store_hf_repo(http_app(req), repo, &r, &e) < 0 ||
           auth_check_read(req, &r, &e) == 0;
}

int auth_require_read(http_req *req, const char *repo)
{
    hf_repo r;
    es_err e = {0};
    if (store_hf_repo(http_app(req), repo, &r, &e) < 0 ||
        auth_check_read(req, &r, &e) == 0)
        return 0;
    http_respond_err(req, &e);
    return -1;
}

/* ---- upload capabilities ----------------------------------------------------- */

void auth_sign_upload(const char *repo, const char *oid, uint64_t size,
                      int64_t expires, char out[65])
{
    char msg[512];
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    int n = snprintf(msg, sizeof msg, "upload\n%s\n%s\n%" PRIu64 "\n%" PRId64,
                     repo, oid, size, expires);
    HMAC(EVP_sha256(), secret, SECRET_LEN, (const uint8_t *)msg, (size_t)n,
         mac, &maclen);
    elves_hex(out, mac, 32);
}

int auth_upload_ok(const char *repo, const char *oid, uint64_t size,
                   int64_t expires, const char *sig)
{
    char want[65];
    if (expires < (int64_t)time(NULL) || strlen(sig) != 64)
        return 0;
    auth_sign_upload(repo, oid, size, expires, want);
    return CRYPTO_memcmp(want, sig, 64) == 0;
}

/* ---- the token command ---------------------------------------------------------- */

static int token_usage(void)
{
    fprintf(stderr, "usage: elvesd token create [--data DIR] [--database URL] "
                    "--name NAME [--write]\n"
                    "  prints a new hf_ token once; DIR defaults to "
                    "$ELVES_DATA or ./data, URL to $ELVES_DATABASE (none: "
                    "the SQLite file in DIR)\n");
    return 2;
}

int auth_token_command(int argc, char **argv)
{
    const char *data = getenv("ELVES_DATA");
    const char *database = getenv("ELVES_DATABASE");
    const char *name = NULL;
    int can_write = 0;
    if (argc < 2 || strcmp(argv[1], "create") != 0)
        return token_usage();
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--write") == 0)
            can_write = 1;
        else if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            data = argv[++i];
        else if (strcmp(argv[i], "--database") == 0 && i + 1 < argc)
            database = argv[++i];
        else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
            name = argv[++i];
        else
            return token_usage();
    }
    if (!name)
        return token_usage();
    char token[64];
    es_err e = {0};
    if (store_token_create(data && *data ? data : "./data",
                           database && *database ? database : NULL, name,
                           can_write, token, &e) < 0) {
        fprintf(stderr, "elvesd token: %s\n", e.msg);
        return 1;
    }
    printf("%s\n", token);
    return 0;
}
