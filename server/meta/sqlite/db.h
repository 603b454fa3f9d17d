/*
 * db.h - elvesd's SQLite metadata connection: opening with the right
 * pragmas, migrations, a cache of prepared statements and transactions.
 *
 * One connection, one mutex: every caller takes the lock for the whole of
 * its work (a lookup, or a transaction), so there is exactly one writer and
 * statements are never shared between threads.  Metadata work is short
 * (chunk reads and compression never hold the lock), so serialising it
 * costs little and keeps the locking obvious.
 */
#ifndef ELVESD_DB_H
#define ELVESD_DB_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "migrate.h"

typedef struct db db;

/* Opens (creating) the database at path: WAL, foreign_keys=ON,
 * busy_timeout, synchronous=FULL; applies the embedded migrations that are
 * missing (migrate.h), in order, in one transaction.  Refuses (500) a database that has
 * a migration this binary does not know. */
int db_open(db **out, const char *path, es_err *err);
void db_close(db *d);

/* Applies `migrations` (sorted by version) to an open database; exposed so
 * tests can play a newer binary. */
int db_migrate(db *d, const meta_migration *migrations, unsigned n,
               es_err *err);

/* The connection lock.  Everything below needs it held. */
void db_lock(db *d);
void db_unlock(db *d);

/* Lock + BEGIN IMMEDIATE; commit or rollback, then unlock. */
int db_tx_begin(db *d, es_err *err);
int db_tx_commit(db *d, es_err *err);
void db_tx_rollback(db *d);

/* A prepared statement for sql, which must be a string literal (statements
 * are cached by its address).  Returned reset with no bindings. NULL + err
 * on failure. */
sqlite3_stmt *db_prep(db *d, const char *sql, es_err *err);

/* Runs sql (one or more statements, no results). */
int db_exec(db *d, const char *sql, es_err *err);

/* Fills err (500) from the connection's last error; returns -1. */
int db_fail(db *d, es_err *err, const char *what);

/* Steps a statement that returns no row; -1 + err on failure. */
int db_step_done(db *d, sqlite3_stmt *s, es_err *err);

/* Steps once: 1 = a row, 0 = done, -1 + err = failure. */
int db_step_row(db *d, sqlite3_stmt *s, es_err *err);

/* Binds helpers (1-based index, like sqlite). */
void db_bind_text(sqlite3_stmt *s, int i, const char *v);
void db_bind_i64(sqlite3_stmt *s, int i, int64_t v);

/* sqlite3_changes of the connection. */
int db_changes(db *d);
int64_t db_last_id(db *d);

/* Copies column i as text into buf (empty string for NULL). */
void db_col_text(sqlite3_stmt *s, int i, char *buf, size_t cap);

/* The single integer a query returns (0 if no row); -1 on failure. */
int db_query_i64(db *d, const char *sql, int64_t *out, es_err *err);

#endif /* ELVESD_DB_H */
