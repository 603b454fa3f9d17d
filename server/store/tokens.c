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
    db_lock(st->db);
    sqlite3_stmt *s = db_prep(st->db,
                              "SELECT id, name, can_write FROM tokens WHERE "
                              "hash = ?",
                              err);
    int rc = s ? 0 : -1;
    if (s) {
        db_bind_text(s, 1, hash);
        rc = db_step_row(st->db, s, err);
        if (rc == 1) {
            out->id = sqlite3_column_int64(s, 0);
            db_col_text(s, 1, out->name, sizeof out->name);
            out->can_write = sqlite3_column_int(s, 2) != 0;
        }
        sqlite3_reset(s);
    }
    db_unlock(st->db);
    if (rc == 0)
        return es_errf(err, 401, "invalid token");
    return rc < 0 ? -1 : 0;
}

int store_token_count(es_store *st, int64_t *n, es_err *err)
{
    db_lock(st->db);
    int rc = db_query_i64(st->db, "SELECT count(*) FROM tokens", n, err);
    db_unlock(st->db);
    return rc < 0 ? -1 : 0;
}

static int insert_token(db *d, const char *name, int can_write,
                        const char *hash, es_err *err)
{
    db_lock(d);
    sqlite3_stmt *s = db_prep(d,
                              "INSERT INTO tokens (name, hash, can_write, "
                              "created) VALUES (?, ?, ?, ?)",
                              err);
    int rc = -1;
    if (s) {
        db_bind_text(s, 1, name);
        db_bind_text(s, 2, hash);
        db_bind_i64(s, 3, can_write ? 1 : 0);
        db_bind_i64(s, 4, es_now());
        rc = db_step_done(d, s, err);
    }
    db_unlock(d);
    return rc;
}

int store_token_create(const char *data_dir, const char *name, int can_write,
                       char out[64], es_err *err)
{
    char path[4200], hex[41], hash[65];
    db *d = NULL;
    if (!name || !*name || strlen(name) > 100)
        return es_errf(err, 400, "token name must be 1..100 characters");
    if (mkdir(data_dir, 0755) < 0 && errno != EEXIST)
        return es_errf(err, 500, "mkdir %s: %s", data_dir, strerror(errno));
    snprintf(path, sizeof path, "%s/elves.db", data_dir);
    if (es_random_hex(hex, 20, err) < 0)
        return -1;
    snprintf(out, 64, "hf_%s", hex);
    if (token_hash(out, hash, err) < 0 || db_open(&d, path, err) < 0)
        return -1;
    int rc = insert_token(d, name, can_write, hash, err);
    db_close(d);
    return rc;
}
