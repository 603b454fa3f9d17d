/*
 * pg_conn.c - the PostgreSQL backend's connections: a pool shared by every
 * thread, transactions, statements with text parameters, error mapping
 * and migrations.
 *
 * Pool: up to PG_POOL_MAX connections, made on demand and reused; a begin
 * that finds none idle and the pool full waits for one.  A connection
 * that is broken (the server restarted or the network dropped) is reset
 * once when a begin finds it so, or when its BEGIN fails for that reason;
 * if it is still down the begin fails with 503 and the connection stays
 * in the pool, to be reset again by the next begin.
 *
 * Transactions (meta.h's promises):
 *   META_WRITE  BEGIN; SELECT pg_advisory_xact_lock(PG_WRITE_LOCK): one
 *               writer at a time across every process sharing the
 *               database, so a check-then-insert inside one write stays
 *               true; read committed, so each statement sees every write
 *               committed before the lock was granted.
 *   META_READ   BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY: one
 *               snapshot for the whole transaction, no lock.
 * Migrations run under a session advisory lock of their own
 * (PG_MIGRATE_LOCK), so replicas starting together apply them once.
 */
#include "meta_pg_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "migrate.h"

#define PG_POOL_MAX 16
#define PG_CONNECT_TIMEOUT "5"
/* Advisory lock keys: "elvesW" and "elvesM" as integers. */
#define PG_WRITE_LOCK "110425148581207"
#define PG_MIGRATE_LOCK "110425148581197"

struct pg_meta {
    meta base;
    char *url;
    pthread_mutex_t mu;
    pthread_cond_t freed;    /* a connection went back to the pool */
    PGconn *idle[PG_POOL_MAX];
    unsigned n_idle, n_open; /* idle ones, and all made */
};

/* ---- errors and statements ---------------------------------------------- */

static int conn_lost(PGconn *c, const PGresult *r)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    return PQstatus(c) == CONNECTION_BAD || (state && strncmp(state, "08", 2) == 0) ||
           (state && strcmp(state, "57P01") == 0); /* admin shutdown */
}

/* The first line of libpq's message (it ends with a newline). */
static void first_line(char *buf, size_t cap, const char *msg)
{
    snprintf(buf, cap, "%s", msg && *msg ? msg : "no answer");
    buf[strcspn(buf, "\n")] = '\0';
}

int pg_fail(PGconn *c, const PGresult *r, const char *what, es_err *err)
{
    char msg[400];
    first_line(msg, sizeof msg,
               r && *PQresultErrorMessage(r) ? PQresultErrorMessage(r)
                                             : PQerrorMessage(c));
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (conn_lost(c, r))
        return es_errf(err, 503, "database unreachable: %s", msg);
    if (state && strcmp(state, "23505") == 0)
        return es_errf(err, 409, "database: %s: %s", what, msg);
    return es_errf(err, 500, "database: %s: %s", what, msg);
}

static PGconn *tx_conn(meta_tx *tx)
{
    return ((pg_tx *)tx)->conn;
}

PGresult *pg_run(meta_tx *tx, const char *sql, const pg_param *p, int n,
                 es_err *err)
{
    enum { MAX_PARAMS = 16 };
    char nums[MAX_PARAMS][24];
    const char *values[MAX_PARAMS];
    if (n > MAX_PARAMS) {
        es_errf(err, 500, "database: too many parameters");
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        if (p[i].is_text) {
            values[i] = p[i].t;
        } else {
            snprintf(nums[i], sizeof nums[i], "%lld", (long long)p[i].i);
            values[i] = nums[i];
        }
    }
    PGconn *c = tx_conn(tx);
    PGresult *r = PQexecParams(c, sql, n, NULL, values, NULL, NULL, 0);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return r;
    pg_fail(c, r, "query", err);
    PQclear(r);
    return NULL;
}

int pg_exec(meta_tx *tx, const char *sql, const pg_param *p, int n,
            es_err *err)
{
    PGresult *r = pg_run(tx, sql, p, n, err);
    if (!r)
        return -1;
    int changed = atoi(PQcmdTuples(r));
    PQclear(r);
    return changed;
}

int pg_i64(meta_tx *tx, const char *sql, const pg_param *p, int n,
           int64_t *out, es_err *err)
{
    PGresult *r = pg_run(tx, sql, p, n, err);
    if (!r)
        return -1;
    int found = PQntuples(r) > 0;
    *out = found ? pg_col_i64(r, 0, 0) : 0;
    PQclear(r);
    return found;
}

int pg_exists(meta_tx *tx, const char *sql, const pg_param *p, int n,
              es_err *err)
{
    int64_t ignored;
    return pg_i64(tx, sql, p, n, &ignored, err);
}

int pg_returning(meta_tx *tx, const char *sql, const pg_param *p, int n,
                 int64_t *id, es_err *err)
{
    return pg_ran(pg_i64(tx, sql, p, n, id, err));
}

int64_t pg_col_i64(const PGresult *r, int row, int col)
{
    /* numeric sums come as "123" too */
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

void pg_col_text(const PGresult *r, int row, int col, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", PQgetvalue(r, row, col));
}

int pg_col_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col);
}

/* ---- the pool ---------------------------------------------------------------- */

static void ignore_notice(void *arg, const char *msg)
{
    (void)arg;
    (void)msg; /* "relation already exists, skipping" and the like */
}

/* A new connection; the URL's own connect_timeout wins over ours. */
static PGconn *connect_url(const char *url)
{
    const char *keys[] = {"connect_timeout", "fallback_application_name",
                          "dbname", NULL};
    const char *values[] = {PG_CONNECT_TIMEOUT, "elvesd", url, NULL};
    PGconn *c = PQconnectdbParams(keys, values, 1);
    if (c)
        PQsetNoticeProcessor(c, ignore_notice, NULL);
    return c;
}

static int unreachable(PGconn *c, es_err *err)
{
    char msg[400];
    first_line(msg, sizeof msg, c ? PQerrorMessage(c) : "out of memory");
    return es_errf(err, 503, "database unreachable: %s", msg);
}

/* A connection of the pool, made if none is idle; NULL + 503 if the
 * server cannot be reached. */
static PGconn *pool_get(pg_meta *m, es_err *err)
{
    pthread_mutex_lock(&m->mu);
    while (m->n_idle == 0 && m->n_open >= PG_POOL_MAX)
        pthread_cond_wait(&m->freed, &m->mu);
    if (m->n_idle > 0) {
        PGconn *c = m->idle[--m->n_idle];
        pthread_mutex_unlock(&m->mu);
        return c;
    }
    m->n_open++;
    pthread_mutex_unlock(&m->mu);
    PGconn *c = connect_url(m->url);
    if (c && PQstatus(c) == CONNECTION_OK)
        return c;
    unreachable(c, err);
    PQfinish(c);
    pthread_mutex_lock(&m->mu);
    m->n_open--;
    pthread_cond_signal(&m->freed);
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

static void pool_put(pg_meta *m, PGconn *c)
{
    pthread_mutex_lock(&m->mu);
    m->idle[m->n_idle++] = c;
    pthread_cond_signal(&m->freed);
    pthread_mutex_unlock(&m->mu);
}

/* Runs sql outside any parameters; 0, or -1 with err (see pg_fail). */
static int conn_exec(PGconn *c, const char *sql, es_err *err)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = pg_fail(c, r, "exec", err);
    PQclear(r);
    return rc;
}

/* Runs sql (BEGIN ...) on c; a connection found broken, before or by it,
 * is reset once and sql tried again. */
static int exec_reconnecting(PGconn *c, const char *sql, es_err *err)
{
    if (PQstatus(c) == CONNECTION_BAD) {
        PQreset(c);
        if (PQstatus(c) != CONNECTION_OK)
            return unreachable(c, err);
    }
    if (conn_exec(c, sql, err) == 0)
        return 0;
    if (err->status != 503)
        return -1;
    PQreset(c);
    if (PQstatus(c) != CONNECTION_OK)
        return unreachable(c, err);
    return conn_exec(c, sql, err);
}

/* ---- transactions ------------------------------------------------------------ */

int pg_tx_begin(pg_meta *m, meta_mode mode, pg_tx **out, es_err *err)
{
    pg_tx *t = calloc(1, sizeof *t);
    if (!t)
        return es_errf(err, 500, "out of memory");
    t->m = m;
    t->mode = mode;
    t->base.ops = m->base.ops;
    if (!(t->conn = pool_get(m, err))) {
        free(t);
        return -1;
    }
    const char *sql =
        mode == META_WRITE
            ? "BEGIN; SELECT pg_advisory_xact_lock(" PG_WRITE_LOCK ")"
            : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
    if (exec_reconnecting(t->conn, sql, err) < 0) {
        pg_tx_rollback(t);
        return -1;
    }
    *out = t;
    return 0;
}

static void tx_end(pg_tx *t)
{
    pool_put(t->m, t->conn);
    free(t);
}

int pg_tx_commit(pg_tx *t, es_err *err)
{
    /* COMMIT of a transaction a statement failed in "succeeds" as a
     * rollback: say so rather than report it committed. */
    if (PQtransactionStatus(t->conn) == PQTRANS_INERROR) {
        pg_tx_rollback(t);
        return es_errf(err, 500, "database: commit of a failed transaction");
    }
    PGresult *r = PQexec(t->conn, "COMMIT");
    int rc = 0;
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK)
        rc = pg_fail(t->conn, r, "commit", err);
    else if (strcmp(PQcmdStatus(r), "COMMIT") != 0)
        rc = es_errf(err, 500, "database: commit rolled back");
    PQclear(r);
    if (rc < 0 && PQtransactionStatus(t->conn) != PQTRANS_IDLE)
        conn_exec(t->conn, "ROLLBACK", err);
    tx_end(t);
    return rc;
}

void pg_tx_rollback(pg_tx *t)
{
    if (PQstatus(t->conn) == CONNECTION_OK &&
        PQtransactionStatus(t->conn) != PQTRANS_IDLE) {
        es_err ignored;
        conn_exec(t->conn, "ROLLBACK", &ignored);
    }
    tx_end(t);
}

/* ---- migrations (migrate.h runs them; these are its hands) ------------ */

static int mig_exec(void *ctx, const char *sql, es_err *err)
{
    return conn_exec(tx_conn(ctx), sql, err);
}

static int mig_newest(void *ctx, int64_t *out, es_err *err)
{
    return pg_i64(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations",
                  PG_NONE, out, err) < 0
               ? -1
               : 0;
}

static int mig_applied(void *ctx, int version, es_err *err)
{
    int64_t one;
    return pg_i64(ctx, "SELECT 1 FROM schema_migrations WHERE version = $1",
                  PG_P(PG_I(version)), &one, err);
}

static int mig_record(void *ctx, const meta_migration *m, es_err *err)
{
    return pg_exec(ctx,
                   "INSERT INTO schema_migrations (version, name, applied_at) "
                   "VALUES ($1, $2, $3)",
                   PG_P(PG_I(m->version), PG_T(m->name), PG_I(time(NULL))),
                   err) < 0
               ? -1
               : 0;
}

int pg_meta_migrate(pg_meta *m, es_err *err)
{
    pg_tx t = {.base = {m->base.ops}, .m = m, .mode = META_WRITE};
    if (!(t.conn = pool_get(m, err)))
        return -1;
    meta_migrate_conn c = {META_DIALECT_POSTGRES, &t, mig_exec, mig_newest,
                           mig_applied, mig_record};
    int rc = exec_reconnecting(
        t.conn, "SELECT pg_advisory_lock(" PG_MIGRATE_LOCK ")", err);
    if (rc == 0 && (rc = conn_exec(t.conn, "BEGIN", err)) < 0)
        conn_exec(t.conn, "SELECT pg_advisory_unlock(" PG_MIGRATE_LOCK ")",
                  &(es_err){0, ""});
    if (rc == 0) {
        rc = meta_migrate(&c, meta_migrations, meta_migrations_count, err);
        if (rc == 0)
            rc = conn_exec(t.conn, "COMMIT", err);
        else
            conn_exec(t.conn, "ROLLBACK", &(es_err){0, ""});
        conn_exec(t.conn, "SELECT pg_advisory_unlock(" PG_MIGRATE_LOCK ")",
                  &(es_err){0, ""});
    }
    pool_put(m, t.conn);
    return rc;
}

/* ---- the backend's life ------------------------------------------------------ */

int pg_meta_create(pg_meta **out, const meta_ops *ops, const char *url,
                   es_err *err)
{
    if (!url || !*url)
        return es_errf(err, 400, "postgres backend: no database URL");
    pg_meta *m = calloc(1, sizeof *m);
    if (!m || !(m->url = strdup(url))) {
        free(m);
        return es_errf(err, 500, "out of memory");
    }
    m->base.ops = ops;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->freed, NULL);
    *out = m;
    return 0;
}

void pg_meta_destroy(pg_meta *m)
{
    if (!m)
        return;
    for (unsigned i = 0; i < m->n_idle; i++)
        PQfinish(m->idle[i]);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->freed);
    free(m->url);
    free(m);
}
