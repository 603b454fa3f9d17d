/*
 * tokens.c - access tokens for the Hugging Face compatible API (see
 * store_hf.h): creating one from the command line, checking one on a
 * request, counting them (auth.c decides from the count whether writes
 * need a token at all).
 *
 * Only the SHA-256 of a token is stored, so a copy of the database does
 * not hand out access; a token is 160 random bits, so a plain hash (no
 * salt, no slow KDF) is enough.
 */
#include "store_hf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store_internal.h"

static int token_hash(const char *token, char out[65], es_err *err)
{
    uint8_t digest[32];
    if (elves_sha256(digest, (const uint8_t *)token, strlen(token)) != 0)
        return es_errf(err, 500, "sha256 failed");
    elves_hex(out, digest, 32);
    return 0;
}

int store_token_check(es_store *st, const char *token, hf_token *out,
                      es_err *err)
{
    char hash[65];
    if (strncmp(token, "hf_", 3) != 0 || strlen(token) > 200)
        return es_errf(err, 401, "invalid token");
    if (token_hash(token, hash, err) < 0)
        return -1;
    meta_tx *tx;
    meta_token t;
    if (meta_begin(st->meta, META_READ, &tx, err) < 0)
        return -1;
    int rc = meta_end(tx, meta_token_find(tx, hash, &t, err), err);
    if (rc < 0)
        return -1;
    if (rc == 0)
        return es_errf(err, 401, "invalid token");
    out->id = t.id;
    snprintf(out->name, sizeof out->name, "%s", t.name);
    out->can_write = t.can_write;
    return 0;
}

int store_token_count(es_store *st, int64_t *n, es_err *err)
{
    meta_tx *tx;
    if (meta_begin(st->meta, META_READ, &tx, err) < 0)
        return -1;
    return meta_end(tx, meta_token_count(tx, n, err), err);
}

int store_token_create(const char *data_dir, const char *database,
                       const char *name, int can_write, char out[64],
                       es_err *err)
{
    char path[4200], hex[41], hash[65];
    if (!name || !*name || strlen(name) > 100)
        return es_errf(err, 400, "token name must be 1..100 characters");
    if (mkdir(data_dir, 0755) < 0 && errno != EEXIST)
        return es_errf(err, 500, "mkdir %s: %s", data_dir, strerror(errno));
    snprintf(path, sizeof path, "%s/elves.db", data_dir);
    if (es_random_hex(hex, 20, err) < 0)
        return -1;
    snprintf(out, 64, "hf_%s", hex);
    meta *m = NULL;
    meta_tx *tx;
    meta_config mc = {.backend = "sqlite", .path = path};
    if (database)
        mc = (meta_config){.backend = "postgres", .url = database};
    if (token_hash(out, hash, err) < 0 || meta_open(&m, &mc, err) < 0)
        return -1;
    int rc = meta_begin(m, META_WRITE, &tx, err);
    if (rc == 0)
        rc = meta_end(tx,
                      meta_token_add(tx, name, hash, can_write, es_now(), err),
                      err);
    meta_close(m);
    return rc;
}
