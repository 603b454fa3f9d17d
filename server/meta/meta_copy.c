/*
 * meta_copy.c - copying a single-node metadata database (SQLite) into a
 * PostgreSQL one, for `elvesd migrate` (store/store_migrate.c has the
 * rest: chunk bytes, spool files, verification).  The one file of the
 * layer that knows both backends at once.
 *
 * Rows are copied generically: every column of `SELECT *` in SQLite goes
 * as a text parameter into the same column in PostgreSQL, which parses it
 * by the column's type, so a column a later migration adds comes along by
 * itself.  A table a later migration adds does not: meta_copy_open refuses
 * a source with a table the list below does not name, so that the copy
 * can never leave one behind silently.
 *
 * What is not copied as it is:
 *   - reference counts (chunks.refcount, tensors.refcount, packs.live_*)
 *     are the target's triggers' to keep (migrations/0001_init.sql): a
 *     counted row goes in at zero, and each row that references it counts
 *     as it arrives, so a row skipped on a second run is never counted
 *     twice (an AFTER INSERT trigger does not fire for ON CONFLICT DO
 *     NOTHING);
 *   - dead_since of a row still referenced is set again by the trigger
 *     (NULL once counted); an unreferenced one keeps its age;
 *   - packs are not copied: they describe the source's pack files, and
 *     the target's rows come from its triggers as chunks arrive at their
 *     new locations (meta_copy_chunks_add);
 *   - a job that was running when the single node stopped is queued again
 *     and its file version spooled again, which is what elvesd itself does
 *     at its next start (job_requeue_expired);
 *   - schema_migrations: the target applied the same migrations itself
 *     (meta_open), which meta_copy_open checks.
 */
#include "meta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta_pg_internal.h"
#include "meta_sqlite_internal.h"
#include "util.h"
#include "vec.h"

struct meta_copy {
    meta *src; /* SQLite */
    meta *dst; /* PostgreSQL */
};

/* ---- the tables, in foreign-key order --------------------------------- */

#define COPY_COLS 16 /* pg_run takes 16 parameters */

typedef struct copy_row {
    int n;
    const char *col[COPY_COLS];
    const char *val[COPY_COLS]; /* NULL: SQL NULL */
    char now[24];               /* the time of the copy, as text */
} copy_row;

typedef struct copy_table {
    const char *name;
    /* Literals, as db_prep caches statements by their address. */
    const char *select;
    const char *count;
    int stage; /* meta_copy_stage, or -1: chunks (the caller's) */
    void (*fix)(copy_row *r);
} copy_table;

static void fix_file(copy_row *r);
static void fix_job(copy_row *r);
static void fix_counted(copy_row *r);

#define TABLE(name, order, stage, fix)                                         \
    {name, "SELECT * FROM " name " ORDER BY " order,                           \
     "SELECT count(*) FROM " name, stage, fix}
#define BEFORE META_COPY_BEFORE_CHUNKS
#define AFTER META_COPY_AFTER_CHUNKS

static const copy_table tables[] = {
    TABLE("repos", "id", BEFORE, NULL),
    TABLE("commits", "created, id", BEFORE, NULL),
    TABLE("refs", "repo_id, name", BEFORE, NULL),
    TABLE("files", "id", BEFORE, fix_file),
    TABLE("tree_entries", "commit_id, path", BEFORE, NULL),
    TABLE("hf_repos", "repo_id", BEFORE, NULL),
    TABLE("hf_blobs", "file_id", BEFORE, NULL),
    TABLE("tokens", "id", BEFORE, NULL),
    TABLE("mirror_commits", "repo_key, commit_id", BEFORE, NULL),
    TABLE("mirror_entries", "repo_key, commit_id, path", BEFORE, NULL),
    TABLE("mirror_refs", "repo_key, rev", BEFORE, NULL),
    TABLE("jobs", "id", BEFORE, fix_job),
    TABLE("tensors", "id", BEFORE, fix_counted),
    TABLE("chunks", "id", -1, NULL),
    TABLE("tensor_blocks", "tensor_id, seq", AFTER, NULL),
    TABLE("file_segments", "file_id, seq", AFTER, NULL),
    TABLE("file_blocks", "file_id, seq", AFTER, NULL),
};
#define NTABLES (sizeof tables / sizeof tables[0])

/* Tables of the source that are not copied (see the top of the file). */
static const char *const not_copied[] = {"schema_migrations", "packs",
                                         "sqlite_sequence"};

/* Tables whose ids come from a sequence the copy must move on:
 * AUTOINCREMENT ones also remember ids of deleted rows (sqlite_sequence). */
static const struct {
    const char *name; /* also put into SQL: never input */
    const char *max;  /* literal, for db_prep */
} sequenced[] = {
    {"repos", "SELECT coalesce(max(id), 0) FROM repos"},
    {"files", "SELECT coalesce(max(id), 0) FROM files"},
    {"chunks", "SELECT coalesce(max(id), 0) FROM chunks"},
    {"tensors", "SELECT coalesce(max(id), 0) FROM tensors"},
    {"jobs", "SELECT coalesce(max(id), 0) FROM jobs"},
    {"tokens", "SELECT coalesce(max(id), 0) FROM tokens"},
};

static int row_find(const copy_row *r, const char *col)
{
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->col[i], col) == 0)
            return i;
    return -1;
}

static int row_is(const copy_row *r, const char *col, const char *v)
{
    int i = row_find(r, col);
    return i >= 0 && r->val[i] && strcmp(r->val[i], v) == 0;
}

static void row_set(copy_row *r, const char *col, const char *v)
{
    int i = row_find(r, col);
    if (i >= 0)
        r->val[i] = v;
}

/* A file version whose job was running is spooled again (its job queued). */
static void fix_file(copy_row *r)
{
    if (row_is(r, "state", "compressing"))
        row_set(r, "state", "spooled");
}

static void fix_job(copy_row *r)
{
    if (row_is(r, "state", "running")) {
        row_set(r, "state", "queued");
        row_set(r, "lease_until", NULL);
    }
}

/* The triggers count the references as the rows naming this one arrive.
 * dead_since must not be NULL at zero (GC would never free the row): now,
 * so that a GC of the target between the two stages leaves it to them
 * (the trigger sets it NULL at the first reference). */
static void fix_counted(copy_row *r)
{
    row_set(r, "refcount", "0");
    int i = row_find(r, "dead_since");
    if (i >= 0 && !r->val[i]) {
        snprintf(r->now, sizeof r->now, "%lld", (long long)es_now());
        r->val[i] = r->now;
    }
}

/* Columns the target's triggers keep: not compared with the source's. */
static int counted_column(const char *col)
{
    return strcmp(col, "refcount") == 0 || strcmp(col, "dead_since") == 0;
}

/* ---- statements built from a row's columns ---------------------------- */

typedef struct copy_sql {
    char insert[2048];
    char match[2048];
    int match_col[COPY_COLS]; /* row column of each match parameter */
    int nmatch;
} copy_sql;

/* INSERT ... ON CONFLICT DO NOTHING, and the query that finds the row
 * the insert would have written when it did nothing. */
static int build_sql(const char *table, const copy_row *r, copy_sql *q,
                     es_err *err)
{
    size_t a = 0, b = 0;
    a += (size_t)snprintf(q->insert, sizeof q->insert, "INSERT INTO %s (",
                          table);
    b += (size_t)snprintf(q->match, sizeof q->match, "SELECT 1 FROM %s WHERE ",
                          table);
    q->nmatch = 0;
    for (int i = 0; i < r->n && a < sizeof q->insert; i++)
        a += (size_t)snprintf(q->insert + a, sizeof q->insert - a, "%s\"%s\"",
                              i ? ", " : "", r->col[i]);
    if (a < sizeof q->insert)
        a += (size_t)snprintf(q->insert + a, sizeof q->insert - a,
                              ") VALUES (");
    for (int i = 0; i < r->n && a < sizeof q->insert; i++)
        a += (size_t)snprintf(q->insert + a, sizeof q->insert - a, "%s$%d",
                              i ? ", " : "", i + 1);
    if (a < sizeof q->insert)
        a += (size_t)snprintf(q->insert + a, sizeof q->insert - a,
                              ") ON CONFLICT DO NOTHING");
    for (int i = 0; i < r->n && b < sizeof q->match; i++) {
        if (counted_column(r->col[i]))
            continue;
        q->match_col[q->nmatch++] = i;
        b += (size_t)snprintf(q->match + b, sizeof q->match - b,
                              "%s\"%s\" IS NOT DISTINCT FROM $%d",
                              q->nmatch > 1 ? " AND " : "", r->col[i],
                              q->nmatch);
    }
    if (a >= sizeof q->insert || b >= sizeof q->match)
        return es_errf(err, 500, "migrate: table %s has too many columns",
                       table);
    return 0;
}

/* 1 if the row went in, 0 if the target had it already; 409 if the
 * target has another row there (same key or same unique value). */
static int copy_one(meta_tx *tx, const char *table, const copy_sql *q,
                    const copy_row *r, es_err *err)
{
    pg_param p[COPY_COLS];
    for (int i = 0; i < r->n; i++)
        p[i] = PG_T(r->val[i]);
    int n = pg_exec(tx, q->insert, p, r->n, err);
    if (n != 0)
        return n < 0 ? -1 : 1;
    for (int i = 0; i < q->nmatch; i++)
        p[i] = PG_T(r->val[q->match_col[i]]);
    int same = pg_exists(tx, q->match, p, q->nmatch, err);
    if (same != 0)
        return same < 0 ? -1 : 0;
    return es_errf(err, 409,
                   "the target database already holds a %s row that clashes "
                   "with this store's (%s = %s) and differs from it: it holds "
                   "other data (migrate into an empty database, or the one an "
                   "earlier run filled)",
                   table, r->col[0], r->val[0] ? r->val[0] : "NULL");
}

static int row_read(sqlite3_stmt *s, copy_row *r, const char *table,
                    es_err *err)
{
    r->n = sqlite3_column_count(s);
    if (r->n > COPY_COLS)
        return es_errf(err, 500, "migrate: table %s has too many columns",
                       table);
    for (int i = 0; i < r->n; i++) {
        r->col[i] = sqlite3_column_name(s, i);
        r->val[i] = sqlite3_column_type(s, i) == SQLITE_NULL
                        ? NULL
                        : (const char *)sqlite3_column_text(s, i);
    }
    return 0;
}

/* Every row of one table, in one target transaction. */
static int copy_table_rows(meta_copy *c, const copy_table *t, int64_t *copied,
                           es_err *err)
{
    meta_tx *stx, *dtx;
    if (meta_begin(c->dst, META_WRITE, &dtx, err) < 0)
        return -1;
    if (meta_begin(c->src, META_READ, &stx, err) < 0) {
        meta_rollback(dtx);
        return -1;
    }
    db *d = sq_db(stx);
    sqlite3_stmt *s = db_prep(d, t->select, err);
    copy_sql q;
    int rc = s ? 0 : -1, built = 0, step;
    while (rc == 0 && (step = db_step_row(d, s, err)) != 0) {
        copy_row r;
        if (step < 0 || row_read(s, &r, t->name, err) < 0) {
            rc = -1;
            break;
        }
        if (t->fix)
            t->fix(&r);
        if (!built && (rc = build_sql(t->name, &r, &q, err)) < 0)
            break;
        built = 1;
        int one = copy_one(dtx, t->name, &q, &r, err);
        if (one < 0)
            rc = -1;
        *copied += one > 0;
    }
    if (s)
        sqlite3_reset(s);
    meta_rollback(stx); /* a read: only the lock */
    return meta_end(dtx, rc, err);
}

int meta_copy_rows(meta_copy *c, meta_copy_stage stage, int64_t *copied,
                   es_err *err)
{
    *copied = 0;
    for (size_t i = 0; i < NTABLES; i++)
        if (tables[i].stage == (int)stage &&
            copy_table_rows(c, &tables[i], copied, err) < 0)
            return -1;
    return 0;
}

/* ---- counts and checks ------------------------------------------------- */

static int src_i64(meta_copy *c, const char *sql, int64_t *out, es_err *err)
{
    meta_tx *tx;
    if (meta_begin(c->src, META_READ, &tx, err) < 0)
        return -1;
    return meta_end(tx, db_query_i64(sq_db(tx), sql, out, err), err);
}

/* sql is built from the table list, never from input. */
static int dst_i64(meta_copy *c, const char *sql, int64_t *out, es_err *err)
{
    meta_tx *tx;
    if (meta_begin(c->dst, META_READ, &tx, err) < 0)
        return -1;
    return meta_end(tx, pg_ran(pg_i64(tx, sql, PG_NONE, out, err)), err);
}

static int counts(meta_copy *c, const copy_table *t, int64_t *src,
                  int64_t *dst, es_err *err)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", t->name);
    if (src_i64(c, t->count, src, err) < 0 || dst_i64(c, sql, dst, err) < 0)
        return -1;
    return 0;
}

static int known_table(const char *name)
{
    for (size_t i = 0; i < NTABLES; i++)
        if (strcmp(tables[i].name, name) == 0)
            return 1;
    for (size_t i = 0; i < sizeof not_copied / sizeof not_copied[0]; i++)
        if (strcmp(not_copied[i], name) == 0)
            return 1;
    return 0;
}

static int check_tables_known(meta_copy *c, es_err *err)
{
    meta_tx *tx;
    if (meta_begin(c->src, META_READ, &tx, err) < 0)
        return -1;
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(
        d, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
        err);
    int rc = s ? 0 : -1, step;
    while (rc == 0 && (step = db_step_row(d, s, err)) != 0) {
        char name[128];
        if (step < 0) {
            rc = -1;
            break;
        }
        db_col_text(s, 0, name, sizeof name);
        if (!known_table(name))
            rc = es_errf(err, 500,
                         "migrate does not know the table %s of the source "
                         "database (server/meta/meta_copy.c lists them)",
                         name);
    }
    if (s)
        sqlite3_reset(s);
    return meta_end(tx, rc, err);
}

static int check_schema(meta_copy *c, es_err *err)
{
    meta_schema a, b;
    meta_tx *tx;
    if (meta_begin(c->src, META_READ, &tx, err) < 0 ||
        meta_end(tx, meta_schema_get(tx, &a, err), err) < 0 ||
        meta_begin(c->dst, META_READ, &tx, err) < 0 ||
        meta_end(tx, meta_schema_get(tx, &b, err), err) < 0)
        return -1;
    if (a.newest != b.newest || a.applied != b.applied)
        return es_errf(err, 409,
                       "schema versions differ: the source is at migration "
                       "%lld (%lld applied), the target at %lld (%lld "
                       "applied)",
                       (long long)a.newest, (long long)a.applied,
                       (long long)b.newest, (long long)b.applied);
    return 0;
}

/* Row counts of every table against the source's.  Before the copy the
 * target may hold what an earlier copy of this source wrote, no more
 * (409); after it, exactly as many rows (500). */
static int compare_counts(meta_copy *c, int after, es_err *err)
{
    for (size_t i = 0; i < NTABLES; i++) {
        int64_t s, d;
        if (counts(c, &tables[i], &s, &d, err) < 0)
            return -1;
        if (after ? d != s : d > s)
            return es_errf(err, after ? 500 : 409,
                           "the target database holds %lld %s rows, this "
                           "store %lld%s",
                           (long long)d, tables[i].name, (long long)s,
                           after ? " after the copy"
                                 : ": it holds other data (migrate into an "
                                   "empty database)");
    }
    return 0;
}

typedef struct repo_check {
    meta_copy *c;
    es_err *err;
} repo_check;

static int same_repo_in_source(void *arg, const meta_repo *r)
{
    repo_check *rc = arg;
    meta_tx *tx;
    meta_repo mine;
    if (meta_begin(rc->c->src, META_READ, &tx, rc->err) < 0)
        return -1;
    int found = meta_end(tx, meta_repo_find(tx, r->name, &mine, rc->err),
                         rc->err);
    if (found < 0)
        return -1;
    if (!found || mine.id != r->id)
        return es_errf(rc->err, 409,
                       "the target database holds repository %s, which this "
                       "store %s: it holds other data (migrate into an empty "
                       "database)",
                       r->name, found ? "holds under another id" : "lacks");
    return 0;
}

static int check_repos(meta_copy *c, es_err *err)
{
    repo_check rc = {c, err};
    meta_tx *tx;
    if (meta_begin(c->dst, META_READ, &tx, err) < 0)
        return -1;
    return meta_end(tx, meta_repo_each(tx, same_repo_in_source, &rc, err),
                    err);
}

int meta_copy_open(meta_copy **out, meta *src, meta *dst, es_err *err)
{
    if (strcmp(src->ops->name, "sqlite") != 0 ||
        strcmp(dst->ops->name, "postgres") != 0)
        return es_errf(err, 400,
                       "migrate copies a SQLite database into PostgreSQL, "
                       "not %s into %s",
                       src->ops->name, dst->ops->name);
    meta_copy *c = calloc(1, sizeof *c);
    if (!c)
        return es_errf(err, 500, "out of memory");
    c->src = src;
    c->dst = dst;
    if (check_schema(c, err) < 0 || check_tables_known(c, err) < 0 ||
        compare_counts(c, 0, err) < 0 || check_repos(c, err) < 0) {
        free(c);
        return -1;
    }
    *out = c;
    return 0;
}

void meta_copy_free(meta_copy *c)
{
    free(c);
}

int meta_copy_target_empty(meta_copy *c, es_err *err)
{
    int64_t n;
    if (dst_i64(c, "SELECT count(*) FROM repos", &n, err) < 0)
        return -1;
    return n == 0;
}

int meta_copy_summary_get(meta_copy *c, meta_copy_summary *out, es_err *err)
{
    static const char *const sql[] = {
        "SELECT count(*) FROM repos",
        "SELECT count(*) FROM tokens",
        "SELECT count(*) FROM files",
        "SELECT count(*) FROM files WHERE state = 'stored'",
        "SELECT count(*) FROM files WHERE state IN ('spooled', 'compressing')",
        "SELECT count(*) FROM files WHERE state = 'failed'",
        "SELECT coalesce(sum(size), 0) FROM files",
        "SELECT count(*) FROM chunks",
        "SELECT coalesce(sum(length), 0) FROM chunks",
    };
    int64_t *into[] = {&out->repos,         &out->tokens,
                       &out->files,         &out->files_stored,
                       &out->files_spooled, &out->files_failed,
                       &out->logical_bytes, &out->chunks,
                       &out->chunk_bytes};
    for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++)
        if (src_i64(c, sql[i], into[i], err) < 0)
            return -1;
    return 0;
}

/* ---- file versions -------------------------------------------------------- */

static int read_files(meta_copy *c, vec *out, es_err *err)
{
    meta_tx *tx;
    if (meta_begin(c->src, META_READ, &tx, err) < 0)
        return -1;
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d, "SELECT id FROM files ORDER BY id", err);
    int rc = s ? 0 : -1, step;
    vec ids = VEC_INIT(int64_t);
    while (rc == 0 && (step = db_step_row(d, s, err)) != 0) {
        int64_t id = sqlite3_column_int64(s, 0);
        if (step < 0)
            rc = -1;
        else if (vec_push(&ids, &id) < 0)
            rc = es_errf(err, 500, "out of memory");
    }
    if (s)
        sqlite3_reset(s);
    for (size_t i = 0; rc == 0 && i < ids.n; i++) {
        meta_file *f = vec_grow(out);
        if (!f)
            rc = es_errf(err, 500, "out of memory");
        else if ((rc = sq_file_get(tx, VEC_AT(&ids, int64_t, i), f, err)) >= 0)
            rc = rc ? 0 : es_errf(err, 500, "file version %lld went away",
                                  (long long)VEC_AT(&ids, int64_t, i));
    }
    vec_free(&ids);
    return meta_end(tx, rc, err);
}

static int target_has_file(meta_copy *c, int64_t id, es_err *err)
{
    meta_tx *tx;
    meta_file f;
    if (meta_begin(c->dst, META_READ, &tx, err) < 0)
        return -1;
    return meta_end(tx, meta_file_get(tx, id, &f, err), err);
}

int meta_copy_file_each(meta_copy *c, int spooled_only,
                        int (*fn)(void *ctx, const meta_file *f), void *ctx,
                        es_err *err)
{
    vec files = VEC_INIT(meta_file);
    int rc = read_files(c, &files, err);
    for (size_t i = 0; rc == 0 && i < files.n; i++) {
        const meta_file *f = &VEC_AT(&files, meta_file, i);
        if (spooled_only) {
            if (!f->spool[0])
                continue;
            int has = target_has_file(c, f->id, err);
            if (has != 0) {
                rc = has < 0 ? -1 : 0;
                continue;
            }
        }
        rc = fn(ctx, f);
    }
    vec_free(&files);
    return rc;
}

/* ---- chunks ----------------------------------------------------------------- */

static int read_chunks(meta_copy *c, int64_t after, meta_copy_chunk *out,
                       size_t cap, size_t *n, es_err *err)
{
    meta_tx *tx;
    if (meta_begin(c->src, META_READ, &tx, err) < 0)
        return -1;
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(d,
                              "SELECT id, pack, offset, length, checksum, "
                              "raw_len, codec FROM chunks WHERE id > ? "
                              "ORDER BY id LIMIT ?",
                              err);
    int rc = s ? 0 : -1, step;
    *n = 0;
    if (s) {
        db_bind_i64(s, 1, after);
        db_bind_i64(s, 2, (int64_t)cap);
    }
    while (rc == 0 && (step = db_step_row(d, s, err)) != 0) {
        if (step < 0) {
            rc = -1;
            break;
        }
        meta_copy_chunk *k = &out[(*n)++];
        k->id = sqlite3_column_int64(s, 0);
        k->c.container = (uint64_t)sqlite3_column_int64(s, 1);
        k->c.offset = (uint64_t)sqlite3_column_int64(s, 2);
        k->c.length = (uint32_t)sqlite3_column_int64(s, 3);
        k->c.checksum = (uint64_t)sqlite3_column_int64(s, 4);
        k->c.raw_len = (uint32_t)sqlite3_column_int64(s, 5);
        k->c.codec = (int)sqlite3_column_int64(s, 6);
    }
    if (s)
        sqlite3_reset(s);
    return meta_end(tx, rc, err);
}

/* Drops from rows[0..*n) those the target has, checking they are the
 * same chunks (length and checksum). */
static int drop_present(meta_copy *c, meta_copy_chunk *rows, size_t *n,
                        int64_t *present, es_err *err)
{
    meta_tx *tx;
    if (meta_begin(c->dst, META_READ, &tx, err) < 0)
        return -1;
    PGresult *r = pg_run(tx,
                         "SELECT id, length, checksum FROM chunks WHERE id "
                         "BETWEEN $1 AND $2 ORDER BY id",
                         PG_P(PG_I(rows[0].id), PG_I(rows[*n - 1].id)), err);
    if (!r) {
        meta_rollback(tx);
        return -1;
    }
    size_t keep = 0, j = 0;
    int rc = 0, nt = PQntuples(r);
    *present = 0;
    for (size_t i = 0; rc == 0 && i < *n; i++) {
        while (j < (size_t)nt && pg_col_i64(r, (int)j, 0) < rows[i].id)
            j++;
        if (j < (size_t)nt && pg_col_i64(r, (int)j, 0) == rows[i].id) {
            if ((uint32_t)pg_col_i64(r, (int)j, 1) != rows[i].c.length ||
                (uint64_t)pg_col_i64(r, (int)j, 2) != rows[i].c.checksum)
                rc = es_errf(err, 409,
                             "the target database holds a chunk %lld that "
                             "is not this store's: it holds other data",
                             (long long)rows[i].id);
            (*present)++;
            continue;
        }
        rows[keep++] = rows[i];
    }
    PQclear(r);
    *n = keep;
    return meta_end(tx, rc, err);
}

int meta_copy_chunks_next(meta_copy *c, int64_t after, meta_copy_chunk *out,
                          size_t cap, size_t *n, int64_t *last,
                          int64_t *present, es_err *err)
{
    *present = 0;
    *last = after;
    if (read_chunks(c, after, out, cap, n, err) < 0)
        return -1;
    if (*n == 0)
        return 0;
    *last = out[*n - 1].id;
    return drop_present(c, out, n, present, err) < 0 ? -1 : 1;
}

static int add_chunks_tx(meta_tx *tx, const meta_copy_chunk *rows, size_t n,
                         es_err *err)
{
    for (size_t i = 0; i < n; i++) {
        const meta_chunk_new *k = &rows[i].c;
        /* refcount 0 and dead_since now (the columns' defaults): the
         * file_blocks rows of the second stage count it */
        if (pg_exec(tx,
                    "INSERT INTO chunks (id, pack, \"offset\", length, "
                    "checksum, raw_len, codec) VALUES ($1, $2, $3, $4, $5, "
                    "$6, $7)",
                    PG_P(PG_I(rows[i].id), PG_I(k->container), PG_I(k->offset),
                         PG_I(k->length), PG_I(k->checksum), PG_I(k->raw_len),
                         PG_I(k->codec)),
                    err) < 0)
            return -1;
    }
    return 0;
}

int meta_copy_chunks_add(meta_copy *c, const meta_copy_chunk *rows, size_t n,
                         es_err *err)
{
    meta_tx *tx;
    if (meta_begin(c->dst, META_WRITE, &tx, err) < 0)
        return -1;
    return meta_end(tx, add_chunks_tx(tx, rows, n, err), err);
}

/* ---- the end ---------------------------------------------------------------- */

/* The highest id the source ever gave in a table. */
static int source_id_max(meta_copy *c, size_t i, int64_t *out, es_err *err)
{
    int64_t max = 0, seq = 0;
    meta_tx *tx;
    if (src_i64(c, sequenced[i].max, &max, err) < 0 ||
        meta_begin(c->src, META_READ, &tx, err) < 0)
        return -1;
    db *d = sq_db(tx);
    sqlite3_stmt *s = db_prep(
        d, "SELECT seq FROM sqlite_sequence WHERE name = ?", err);
    int step = s ? 0 : -1;
    if (s) {
        db_bind_text(s, 1, sequenced[i].name);
        if ((step = db_step_row(d, s, err)) == 1)
            seq = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
    }
    if (meta_end(tx, step < 0 ? -1 : 0, err) < 0)
        return -1;
    *out = seq > max ? seq : max;
    return 0;
}

static int advance_sequences(meta_copy *c, es_err *err)
{
    for (size_t i = 0; i < sizeof sequenced / sizeof sequenced[0]; i++) {
        int64_t top;
        meta_tx *tx;
        if (source_id_max(c, i, &top, err) < 0)
            return -1;
        if (top < 1)
            continue; /* a fresh sequence starts at 1 */
        /* never backwards: a target already in use may be further on */
        char sql[200];
        snprintf(sql, sizeof sql,
                 "SELECT setval(pg_get_serial_sequence('%s', 'id'), "
                 "greatest($1, (SELECT coalesce(max(id), 0) FROM %s)))",
                 sequenced[i].name, sequenced[i].name);
        if (meta_begin(c->dst, META_WRITE, &tx, err) < 0)
            return -1;
        int64_t v;
        int rc = pg_ran(pg_i64(tx, sql, PG_P(PG_I(top)), &v, err));
        if (meta_end(tx, rc, err) < 0)
            return -1;
    }
    return 0;
}

static int check_counts(meta_copy *c, es_err *err)
{
    if (compare_counts(c, 1, err) < 0)
        return -1;
    static const char *const sums[][2] = {
        {"SELECT coalesce(sum(refcount), 0) FROM chunks",
         "chunk references"},
        {"SELECT coalesce(sum(refcount), 0) FROM tensors",
         "tensor references"},
    };
    for (size_t i = 0; i < 2; i++) {
        int64_t s, d;
        if (src_i64(c, sums[i][0], &s, err) < 0 ||
            dst_i64(c, sums[i][0], &d, err) < 0)
            return -1;
        if (s != d)
            return es_errf(err, 500,
                           "after the copy the target counts %lld %s, this "
                           "store %lld",
                           (long long)d, sums[i][1], (long long)s);
    }
    return 0;
}

int meta_copy_finish(meta_copy *c, es_err *err)
{
    if (advance_sequences(c, err) < 0)
        return -1;
    return check_counts(c, err);
}
