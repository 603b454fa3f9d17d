/*
 * migrate.h - the schema migrations every metadata backend applies, and
 * the one place where SQL dialects differ (migrate.c).  Private to the
 * meta layer: the store never sees it.
 *
 * migrations/NNNN_name.sql are compiled into the binary
 * (cmake/embed_migrations.cmake) as meta_migrations[], sorted by version.
 * A file is written in SQLite's dialect and may hold sections for one
 * dialect only, each opened by a line of its own:
 *
 *   -- dialect: sqlite      what follows is for SQLite only
 *   -- dialect: postgres    for PostgreSQL only (written in its dialect)
 *   -- dialect: all         for both again (the default at the top)
 *
 * The text for SQLite is the "all" and "sqlite" sections, verbatim, so a
 * migration an existing database applied keeps its meaning.  For
 * PostgreSQL the "all" sections are translated (meta_migration_sql) and
 * the "postgres" sections kept as written: triggers, which have no common
 * syntax, live there as plpgsql functions.
 */
#ifndef ELVESD_META_MIGRATE_H
#define ELVESD_META_MIGRATE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct meta_migration {
    int version;
    const char *name; /* "0001_init" */
    const char *sql;  /* the whole file, every dialect */
} meta_migration;

extern const meta_migration meta_migrations[];
extern const unsigned meta_migrations_count;

typedef enum meta_dialect {
    META_DIALECT_SQLITE,
    META_DIALECT_POSTGRES
} meta_dialect;

/* The text of a migration file for dialect (see the top of this file);
 * the caller frees it.  NULL if out of memory. */
char *meta_migration_sql(const char *sql, meta_dialect dialect);

/* What meta_migrate needs of a connection, inside a transaction (and,
 * for a server database, a lock that keeps other processes out) that the
 * caller holds. */
typedef struct meta_migrate_conn {
    meta_dialect dialect;
    void *ctx;
    /* Runs sql (one or more statements, no result). */
    int (*exec)(void *ctx, const char *sql, es_err *err);
    /* The highest version recorded in schema_migrations (0 if none). */
    int (*newest)(void *ctx, int64_t *out, es_err *err);
    /* 1 if version is recorded, 0 if not. */
    int (*applied)(void *ctx, int version, es_err *err);
    /* Records m as applied now. */
    int (*record)(void *ctx, const meta_migration *m, es_err *err);
} meta_migrate_conn;

/* Creates schema_migrations if missing, refuses (500) a database with a
 * migration newer than the newest of m (sorted by version), then applies
 * in order those of m not recorded, each in its dialect's text. */
int meta_migrate(const meta_migrate_conn *c, const meta_migration *m,
                 unsigned n, es_err *err);

/* The figures of meta_schema this binary knows: how many migrations and
 * the newest version. */
int64_t meta_migrations_known_newest(void);

#endif /* ELVESD_META_MIGRATE_H */
