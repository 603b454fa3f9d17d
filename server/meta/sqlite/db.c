/*
 * db.c - the SQLite connection behind the store: pragmas, migrations,
 * prepared-statement cache and transactions (see db.h).
 *
 * Durability choice: WAL with synchronous=FULL.  In WAL mode NORMAL only
 * loses the last commits on power failure, never on a process crash, but
 * an upload that was acknowledged must survive both; FULL costs one WAL
 * fsync per commit, and elvesd commits rarely (one per upload, one per
 * finished job, one per delete), next to which that fsync is noise.
 */
#include "db.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DB_STMT_SLOTS 256

struct db {
    sqlite3 *conn;
    pthread_mutex_t mu;
    struct {
        const char *sql;
        sqlite3_stmt *stmt;
    } cache[DB_STMT_SLOTS];
};

int db_fail(db *d, es_err *err, const char *what)
{
    return es_errf(err, 500, "database: %s: %s", what, sqlite3_errmsg(d->conn));
}

int db_exec(db *d, const char *sql, es_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(d->conn, sql, NULL, NULL, &msg) != SQLITE_OK) {
        es_errf(err, 500, "database: %s", msg ? msg : "exec failed");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static size_t stmt_slot(const char *sql)
{
    uintptr_t h = (uintptr_t)sql;
    h ^= h >> 17;
    h *= 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 7) % DB_STMT_SLOTS;
}

sqlite3_stmt *db_prep(db *d, const char *sql, es_err *err)
{
    size_t i = stmt_slot(sql);
    for (size_t n = 0; n < DB_STMT_SLOTS; n++, i = (i + 1) % DB_STMT_SLOTS) {
        if (d->cache[i].sql == sql) {
            sqlite3_reset(d->cache[i].stmt);
            sqlite3_clear_bindings(d->cache[i].stmt);
            return d->cache[i].stmt;
        }
        if (d->cache[i].sql == NULL)
            break;
    }
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v3(d->conn, sql, -1, SQLITE_PREPARE_PERSISTENT, &s,
                           NULL) != SQLITE_OK) {
        db_fail(d, err, "prepare");
        return NULL;
    }
    if (d->cache[i].sql == NULL) {
        d->cache[i].sql = sql;
        d->cache[i].stmt = s;
    } else {
        /* More distinct statements than slots: a programming error, made
         * loud rather than leaking statements. */
        sqlite3_finalize(s);
        es_errf(err, 500, "database: statement cache full");
        return NULL;
    }
    return s;
}

int db_step_done(db *d, sqlite3_stmt *s, es_err *err)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE || rc == SQLITE_ROW) {
        sqlite3_reset(s);
        return 0;
    }
    db_fail(d, err, "step");
    sqlite3_reset(s);
    return -1;
}

int db_step_row(db *d, sqlite3_stmt *s, es_err *err)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    db_fail(d, err, "step");
    sqlite3_reset(s);
    return -1;
}

void db_bind_text(sqlite3_stmt *s, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(s, i);
}

void db_bind_i64(sqlite3_stmt *s, int i, int64_t v)
{
    sqlite3_bind_int64(s, i, v);
}

int db_changes(db *d)
{
    return sqlite3_changes(d->conn);
}

int64_t db_last_id(db *d)
{
    return sqlite3_last_insert_rowid(d->conn);
}

void db_col_text(sqlite3_stmt *s, int i, char *buf, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    snprintf(buf, cap, "%s", t ? (const char *)t : "");
}

int db_query_i64(db *d, const char *sql, int64_t *out, es_err *err)
{
    sqlite3_stmt *s = db_prep(d, sql, err);
    if (!s)
        return -1;
    int rc = db_step_row(d, s, err);
    if (rc < 0)
        return -1;
    *out = rc ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    return 0;
}

void db_lock(db *d)
{
    pthread_mutex_lock(&d->mu);
}

void db_unlock(db *d)
{
    pthread_mutex_unlock(&d->mu);
}

int db_tx_begin(db *d, es_err *err)
{
    db_lock(d);
    if (db_exec(d, "BEGIN IMMEDIATE", err) < 0) {
        db_unlock(d);
        return -1;
    }
    return 0;
}

int db_tx_commit(db *d, es_err *err)
{
    if (db_exec(d, "COMMIT", err) < 0) {
        db_exec(d, "ROLLBACK", NULL);
        db_unlock(d);
        return -1;
    }
    db_unlock(d);
    return 0;
}

void db_tx_rollback(db *d)
{
    es_err ignored;
    if (!sqlite3_get_autocommit(d->conn))
        db_exec(d, "ROLLBACK", &ignored);
    db_unlock(d);
}

static int set_pragmas(db *d, es_err *err)
{
    sqlite3_busy_timeout(d->conn, 10000);
    char *mode = NULL;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(d->conn, "PRAGMA journal_mode=WAL", -1, &s, NULL) !=
        SQLITE_OK)
        return db_fail(d, err, "journal_mode");
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
        mode = strdup((const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    int wal = mode && strcmp(mode, "wal") == 0;
    free(mode);
    if (!wal)
        return es_errf(err, 500, "database: cannot switch to WAL mode");
    return db_exec(d,
                   "PRAGMA foreign_keys=ON;"
                   "PRAGMA synchronous=FULL;"
                   "PRAGMA temp_store=MEMORY;",
                   err);
}

/* ---- migrations (migrate.h runs them; these are its hands) ---------- */

static int mig_exec(void *ctx, const char *sql, es_err *err)
{
    return db_exec(ctx, sql, err);
}

static int mig_newest(void *ctx, int64_t *out, es_err *err)
{
    return db_query_i64(
        ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations", out,
        err);
}

static int mig_applied(void *ctx, int version, es_err *err)
{
    db *d = ctx;
    sqlite3_stmt *s =
        db_prep(d, "SELECT 1 FROM schema_migrations WHERE version = ?", err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, version);
    int have = db_step_row(d, s, err);
    sqlite3_reset(s);
    return have;
}

static int mig_record(void *ctx, const meta_migration *m, es_err *err)
{
    db *d = ctx;
    sqlite3_stmt *s = db_prep(d,
                              "INSERT INTO schema_migrations (version, name, "
                              "applied_at) VALUES (?, ?, ?)",
                              err);
    if (!s)
        return -1;
    db_bind_i64(s, 1, m->version);
    db_bind_text(s, 2, m->name);
    db_bind_i64(s, 3, (int64_t)time(NULL));
    return db_step_done(d, s, err);
}

int db_migrate(db *d, const meta_migration *m, unsigned n, es_err *err)
{
    meta_migrate_conn c = {META_DIALECT_SQLITE, d,         mig_exec,
                           mig_newest,          mig_applied, mig_record};
    if (db_tx_begin(d, err) < 0)
        return -1;
    if (meta_migrate(&c, m, n, err) < 0) {
        db_tx_rollback(d);
        return -1;
    }
    return db_tx_commit(d, err);
}

int db_open(db **out, const char *path, es_err *err)
{
    db *d = calloc(1, sizeof *d);
    if (!d)
        return es_errf(err, 500, "out of memory");
    pthread_mutex_init(&d->mu, NULL);
    if (sqlite3_open_v2(path, &d->conn,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                            SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        es_errf(err, 500, "database %s: %s", path,
                d->conn ? sqlite3_errmsg(d->conn) : "cannot open");
        db_close(d);
        return -1;
    }
    if (set_pragmas(d, err) < 0 ||
        db_migrate(d, meta_migrations, meta_migrations_count, err) < 0) {
        db_close(d);
        return -1;
    }
    *out = d;
    return 0;
}

void db_close(db *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < DB_STMT_SLOTS; i++)
        if (d->cache[i].stmt)
            sqlite3_finalize(d->cache[i].stmt);
    if (d->conn)
        sqlite3_close(d->conn);
    pthread_mutex_destroy(&d->mu);
    free(d);
}
