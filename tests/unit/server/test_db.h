/*
 * test_db.h - the database behind a test's store or meta, on either
 * backend: SQLite (the elves.db of the test's data directory, always) or
 * PostgreSQL when ELVES_TEST_DATABASE=postgres://... is set
 * (tests/tools/with-pg.sh sets it).  On PostgreSQL each data directory
 * gets its own empty schema (named after the directory) through
 * options=-csearch_path in the URL, so every store a test opens starts
 * empty and a store reopened on the same directory finds its rows.
 *
 * tdb_open / tdb_q1 / tdb_exec / tdb_close run check queries written in
 * the SQL both dialects share (quote "offset").  Header-only, like
 * store_test_util.h.
 */
#ifndef TEST_DB_H
#define TEST_DB_H

#include <libpq-fe.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#define TDB_FN static __attribute__((unused))

/* The PostgreSQL server under test, or NULL: SQLite only. */
TDB_FN const char *tdb_server(void)
{
    const char *url = getenv("ELVES_TEST_DATABASE");
    return url && *url ? url : NULL;
}

/* The schema of a data directory: t_ + its last part, lower case, and a
 * hash of the whole path (mkdtemp suffixes differ in case only). */
TDB_FN void tdb_schema(char out[80], const char *dir)
{
    const char *base = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
    uint32_t h = 2166136261u;
    for (const char *p = dir; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    size_t n = (size_t)snprintf(out, 80, "t_");
    for (const char *p = base; *p && n < 60; p++)
        out[n++] = (*p >= 'A' && *p <= 'Z')   ? (char)(*p - 'A' + 'a')
                   : (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ? *p
                                                                          : '_';
    snprintf(out + n, 80 - n, "_%08x", h);
}

TDB_FN void tdb_quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg; /* "schema already exists, skipping" */
}

TDB_FN PGconn *tdb_pg_connect(const char *url)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect %s: %s", url, PQerrorMessage(c));
    return c;
}

TDB_FN void tdb_pg_exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

/* The store_config.database for a data directory: NULL (SQLite in the
 * directory), or the URL of its own PostgreSQL schema, created if
 * missing.  A static buffer: store_open copies it. */
TDB_FN const char *tdb_database(const char *dir)
{
    static char url[4400];
    const char *server = tdb_server();
    if (!server)
        return NULL;
    char schema[80];
    tdb_schema(schema, dir);
    PGconn *c = tdb_pg_connect(server);
    char sql[200];
    snprintf(sql, sizeof sql, "CREATE SCHEMA IF NOT EXISTS %s", schema);
    PQsetNoticeProcessor(c, tdb_quiet, NULL);
    tdb_pg_exec(c, sql);
    PQfinish(c);
    snprintf(url, sizeof url, "%s%coptions=-csearch_path%%3D%s", server,
             strchr(server, '?') ? '&' : '?', schema);
    return url;
}

/* A connection to the database of a data directory, for checks. */
typedef struct tdb {
    sqlite3 *sq;
    PGconn *pg;
} tdb;

TDB_FN tdb *tdb_open(const char *dir)
{
    tdb *db = calloc(1, sizeof *db);
    const char *url = tdb_database(dir);
    if (url) {
        db->pg = tdb_pg_connect(url);
        return db;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/elves.db", dir);
    assert_int_equal(sqlite3_open(path, &db->sq), SQLITE_OK);
    sqlite3_busy_timeout(db->sq, 5000);
    return db;
}

TDB_FN void tdb_close(tdb *db)
{
    if (db->pg)
        PQfinish(db->pg);
    if (db->sq)
        sqlite3_close(db->sq);
    free(db);
}

/* The first column of the first row of sql, or -1 if no row. */
TDB_FN int64_t tdb_q1(tdb *db, const char *sql)
{
    if (db->pg) {
        PGresult *r = PQexec(db->pg, sql);
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            fail_msg("%s: %s", sql, PQerrorMessage(db->pg));
        int64_t v = PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)
                        ? strtoll(PQgetvalue(r, 0, 0), NULL, 10)
                        : -1;
        PQclear(r);
        return v;
    }
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db->sq, sql, -1, &s, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db->sq));
    int64_t v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    return v;
}

/* Runs sql (statements, no result); fails the test if it fails. */
TDB_FN void tdb_exec(tdb *db, const char *sql)
{
    if (db->pg) {
        tdb_pg_exec(db->pg, sql);
        return;
    }
    char *msg = NULL;
    if (sqlite3_exec(db->sq, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
}

#endif /* TEST_DB_H */
