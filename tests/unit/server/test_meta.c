/*
 * test_meta.c - the metadata interface (meta.h) called directly, on SQLite
 * always and on PostgreSQL too when ELVES_TEST_DATABASE is set
 * (tests/tools/with-pg.sh): repositories, refs, commits and tree entries,
 * file versions, 409 for a name taken, the job queue with leases
 * (claim, renew, requeue, fencing of a claim whose lease ran out), reference
 * counts kept by triggers and the dead_since grace of GC, a GC on one handle
 * interleaved with a dedup against a dead tensor on another, the schema
 * figures; on PostgreSQL also that concurrent claims never hand out one job
 * twice and that a transaction after a server restart succeeds; on SQLite that
 * a database made before migration 0004 opens and is upgraded; what the Hub API
 * adds (ref deletes, commits with their parents, renames, settings replaced,
 * objects found without a size).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "meta.h"
#include "migrate.h"
#include "test_db.h"

static const char C1[] = "1111111111111111111111111111111111111111";
static const char C2[] = "2222222222222222222222222222222222222222";

typedef struct fixture {
    char dir[4096];
    meta *m;
} fixture;

static meta *open_meta(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/elves.db", dir);
    const char *url = tdb_database(dir);
    meta_config mc = {
        .backend = url ? "postgres" : "sqlite", .path = path, .url = url};
    meta *m = NULL;
    es_err err = {0, ""};
    if (meta_open(&m, &mc, &err) < 0)
        fail_msg("meta_open: %d %s", err.status, err.msg);
    return m;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    mkdir(ELVES_TEST_TMP, 0755);
    snprintf(f->dir, sizeof f->dir, "%s/meta-XXXXXX", ELVES_TEST_TMP);
    if (!mkdtemp(f->dir))
        return -1;
    f->m = open_meta(f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    meta_close(f->m);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static meta_tx *begin(meta *m, meta_mode mode)
{
    meta_tx *tx;
    es_err err = {0, ""};
    if (meta_begin(m, mode, &tx, &err) < 0)
        fail_msg("begin: %d %s", err.status, err.msg);
    return tx;
}

static void commit(meta_tx *tx)
{
    es_err err = {0, ""};
    if (meta_commit(tx, &err) < 0)
        fail_msg("commit: %d %s", err.status, err.msg);
}

/* Asserts a call returned want, printing its error otherwise. */
#define OK(want, call)                                                         \
    do {                                                                       \
        int rc_ = (call);                                                      \
        if (rc_ != (want))                                                     \
            fail_msg("%s = %d: %d %s", #call, rc_, err.status, err.msg);       \
    } while (0)

static int64_t new_file(meta_tx *tx, const char *spool)
{
    es_err err = {0, ""};
    meta_file_new nf = {10, "ab", "lossless", spool, 1};
    int64_t id = 0;
    OK(0, meta_file_insert(tx, &nf, &id, &err));
    return id;
}

static int count_entry(void *ctx, const meta_entry *e)
{
    char *seen = ctx;
    strcat(seen, e->path);
    strcat(seen, ";");
    return 0;
}

static void test_repos_refs_entries(void **state)
{
    fixture *f = *state;
    es_err err = {0, ""};
    meta_tx *tx = begin(f->m, META_WRITE);
    int64_t repo = 0, dup = 0;
    OK(0, meta_repo_insert(tx, "org/a", "lossless", 5, &repo, &err));
    OK(0, meta_commit_insert(tx, C1, repo, NULL, "first", 5, &err));
    OK(0, meta_ref_insert(tx, repo, "main", "branch", C1, &err));
    int64_t f1 = new_file(tx, "s1"), f2 = new_file(tx, "s2");
    OK(0, meta_entry_add(tx, C1, "b/x", f1, &err));
    OK(0, meta_entry_add(tx, C1, "a", f2, &err));
    OK(0, meta_entry_add(tx, C1, "b0", f2, &err));
    OK(0, meta_commit_insert(tx, C2, repo, C1, "second", 6, &err));
    OK(0, meta_entries_copy(tx, C1, C2, "a", &err));
    OK(0, meta_ref_move(tx, repo, "main", C2, &err));
    commit(tx);

    /* a name taken is 409, and the transaction is the caller's to end */
    tx = begin(f->m, META_WRITE);
    OK(-1, meta_repo_insert(tx, "org/a", "elf", 7, &dup, &err));
    assert_int_equal(err.status, 409);
    meta_rollback(tx);

    tx = begin(f->m, META_READ);
    meta_repo r;
    OK(1, meta_repo_find(tx, "org/a", &r, &err));
    assert_int_equal(r.id, repo);
    assert_string_equal(r.mode, "lossless");
    OK(0, meta_repo_find(tx, "org/none", &r, &err));
    meta_ref ref;
    OK(1, meta_ref_get(tx, repo, "main", &ref, &err));
    assert_string_equal(ref.commit, C2);
    assert_string_equal(ref.kind, "branch");
    char seen[200] = "";
    OK(0, meta_entry_each(tx, C2, count_entry, seen, &err));
    assert_string_equal(seen, "b/x;b0;"); /* byte order, "a" left out */
    OK(1, meta_entry_under(tx, C2, "b", &err));
    OK(0, meta_entry_under(tx, C2, "a", &err));
    int64_t fid = 0;
    OK(1, meta_entry_get(tx, C1, "a", &fid, &err));
    assert_int_equal(fid, f2);
    meta_file mf;
    OK(1, meta_file_get(tx, f1, &mf, &err));
    assert_string_equal(mf.state, "spooled");
    assert_string_equal(mf.spool, "s1");
    assert_false(mf.has_error);
    OK(1, meta_file_listed(tx, f1, &err));
    OK(0, meta_file_listed(tx, f2 + 100, &err));
    int64_t created = 0;
    char message[256];
    OK(1, meta_commit_get(tx, C2, &created, message, &err));
    assert_string_equal(message, "second");
    OK(1, meta_commit_exists(tx, repo, C1, &err));
    commit(tx);

    tx = begin(f->m, META_WRITE);
    OK(1, meta_entry_delete_under(tx, C2, "b", &err));
    OK(0, meta_entry_delete(tx, C2, "a", &err));
    seen[0] = '\0';
    OK(0, meta_entry_each(tx, C2, count_entry, seen, &err));
    assert_string_equal(seen, "b0;");
    commit(tx);
}

/* What the Hub API adds: branches and tags removed, history walked by
 * parent, renames, settings made then replaced, copies found by sha256. */
static void test_hub_calls(void **state)
{
    fixture *f = *state;
    es_err err = {0, ""};
    meta_tx *tx = begin(f->m, META_WRITE);
    int64_t a = 0, b = 0, fid = 0;
    OK(0, meta_repo_insert(tx, "org/a", "lossless", 5, &a, &err));
    OK(0, meta_repo_insert(tx, "org/b", "lossless", 6, &b, &err));
    OK(0, meta_commit_insert(tx, C1, a, NULL, "first", 5, &err));
    OK(0, meta_commit_insert(tx, C2, a, C1, "second\n\nbody", 6, &err));
    OK(0, meta_ref_insert(tx, a, "main", "branch", C2, &err));
    OK(0, meta_ref_insert(tx, a, "v1", "tag", C1, &err));
    int64_t file = new_file(tx, "s1");
    OK(0, meta_hf_repo_settings(tx, a, "model", 0, "false", &err));
    OK(0, meta_hf_repo_settings(tx, a, "dataset", 1, "manual", &err));
    commit(tx);

    tx = begin(f->m, META_WRITE);
    OK(1, meta_ref_delete(tx, a, "v1", &err));
    OK(0, meta_ref_delete(tx, a, "v1", &err));
    meta_ref ref;
    OK(0, meta_ref_get(tx, a, "v1", &ref, &err));
    OK(0, meta_repo_rename(tx, a, "org/renamed", &err));
    OK(-1, meta_repo_rename(tx, b, "org/renamed", &err));
    assert_int_equal(err.status, 409);
    meta_rollback(tx);

    tx = begin(f->m, META_WRITE);
    OK(0, meta_repo_rename(tx, a, "org/renamed", &err));
    commit(tx);

    tx = begin(f->m, META_READ);
    meta_commit_row c;
    OK(1, meta_commit_info(tx, C2, &c, &err));
    assert_string_equal(c.parent, C1);
    assert_string_equal(c.message, "second\n\nbody");
    assert_int_equal(c.created, 6);
    OK(1, meta_commit_info(tx, C1, &c, &err));
    assert_string_equal(c.parent, "");
    OK(0, meta_commit_info(tx, "3333333333333333333333333333333333333333", &c,
                           &err));
    meta_repo r;
    OK(0, meta_repo_find(tx, "org/a", &r, &err));
    meta_hf_repo h;
    OK(1, meta_hf_repo_get(tx, "org/renamed", &h, &err));
    assert_int_equal(h.id, a);
    assert_string_equal(h.type, "dataset");
    assert_true(h.is_private);
    assert_string_equal(h.gated, "manual");
    assert_int_equal(h.created, 5);
    OK(1, meta_hf_repo_get(tx, "org/b", &h, &err)); /* no row: defaults */
    assert_string_equal(h.gated, "false");
    assert_false(h.is_private);
    OK(1, meta_ref_get(tx, a, "main", &ref, &err)); /* refs went along */
    OK(1, meta_object_find(tx, "ab", META_SIZE_ANY, "lossless", &fid, &err));
    assert_int_equal(fid, file);
    OK(0, meta_object_find(tx, "ab", 11, "lossless", &fid, &err));
    OK(1, meta_object_find(tx, "ab", 10, "lossless", &fid, &err));
    commit(tx);
}

static void test_jobs_leases(void **state)
{
    fixture *f = *state;
    es_err err = {0, ""};
    int is_pg = tdb_server() != NULL;
    meta_tx *tx = begin(f->m, META_WRITE);
    int64_t file = new_file(tx, "j1"), j1 = 0, j2 = 0;
    OK(0, meta_job_insert(tx, file, "org/a", "p", 10, 1, &j1, &err));
    OK(0, meta_job_insert(tx, file, "org/a", "q", 10, 1, &j2, &err));
    commit(tx);

    int64_t job = 0, fid = 0;
    tx = begin(f->m, META_WRITE);
    OK(1, meta_job_claim(tx, 100, 160, &job, &fid, &err));
    assert_int_equal(job, j1);
    assert_int_equal(fid, file);
    OK(1, meta_job_renew(tx, j1, 200, &err));
    OK(0, meta_job_renew(tx, j2, 200, &err)); /* queued, nobody's */
    commit(tx);

    tx = begin(f->m, META_WRITE);
    OK(1, meta_job_claim(tx, 100, 120, &job, &fid, &err));
    assert_int_equal(job, j2);
    OK(0, meta_job_claim(tx, 100, 120, &job, &fid, &err)); /* queue empty */
    /* at 150: j2's lease ran out, j1's (renewed to 200) did not */
    OK(0, meta_job_requeue_expired(tx, 150, &err));
    commit(tx);

    tx = begin(f->m, META_READ);
    meta_job mj;
    OK(1, meta_job_get(tx, j1, &mj, &err));
    assert_string_equal(mj.state, is_pg ? "running" : "queued");
    OK(1, meta_job_get(tx, j2, &mj, &err));
    assert_string_equal(mj.state, "queued"); /* both backends */
    meta_job_counts jc;
    OK(0, meta_job_counts_get(tx, &jc, &err));
    assert_int_equal(jc.queued + jc.running, 2);
    int64_t attempts = 0;
    OK(1, meta_job_attempts(tx, j2, &attempts, &err));
    assert_int_equal(attempts, 1);
    /* fencing: claim 1 of j2 lost its lease; a late result is refused */
    OK(0, meta_job_owned(tx, j2, 1, &err));
    commit(tx);

    tx = begin(f->m, META_WRITE);
    do /* SQLite requeued j1 too: its claim comes first */
        OK(1, meta_job_claim(tx, 160, 220, &job, &fid, &err));
    while (job != j2);
    OK(1, meta_job_owned(tx, j2, 2, &err)); /* the second claim's now */
    OK(0, meta_job_owned(tx, j2, 1, &err));
    OK(0, meta_job_owned(tx, j2 + 1000, 1, &err)); /* no such job */
    commit(tx);

    /* a job that ended is no longer its worker's to renew */
    tx = begin(f->m, META_WRITE);
    OK(0, meta_job_done(tx, j1, 300, &err));
    OK(0, meta_job_renew(tx, j1, 400, &err));
    commit(tx);
}

typedef struct dead_ctx {
    int64_t n;
} dead_ctx;

static int count_dead(void *ctx, const meta_chunk *c)
{
    (void)c;
    ((dead_ctx *)ctx)->n++;
    return 0;
}

static int64_t dead_chunks(meta *m, int64_t before)
{
    es_err err = {0, ""};
    dead_ctx dc = {0};
    meta_tx *tx = begin(m, META_READ);
    OK(0, meta_chunk_dead_each(tx, before, count_dead, &dc, &err));
    commit(tx);
    return dc.n;
}

static void test_refcounts_and_grace(void **state)
{
    fixture *f = *state;
    es_err err = {0, ""};
    int64_t now = (int64_t)time(NULL);
    meta_tx *tx = begin(f->m, META_WRITE);
    int64_t file = new_file(tx, "g1"), chunk = 0, tensor = 0;
    meta_chunk_new cn = {7, 0, 100, 0xFFFFFFFFFFFFFFF0ull, 400, 1};
    OK(0, meta_chunk_insert(tx, &cn, &chunk, &err));
    meta_tensor_new tn = {"fp", 0, "F32", "[100]", 400, "zstd", 0, 0};
    OK(1, meta_tensor_insert(tx, &tn, &tensor, &err));
    int64_t again = -1;
    OK(0, meta_tensor_insert(tx, &tn, &again, &err)); /* exists */
    assert_int_equal(again, 0);
    commit(tx);

    /* new rows count as dead since their insert */
    assert_int_equal(dead_chunks(f->m, now - 60), 0);
    assert_int_equal(dead_chunks(f->m, now + 60), 1);

    tx = begin(f->m, META_WRITE);
    meta_block b = {0, 0, 400, chunk};
    OK(0, meta_tensor_block_add(tx, tensor, &b, &err));
    OK(0, meta_block_add(tx, file, &b, &err));
    meta_segment sg = {0, "tensor", "w", "F32", 0, 400, "zstd", tensor};
    OK(0, meta_segment_add(tx, file, &sg, &err));
    commit(tx);
    assert_int_equal(dead_chunks(f->m, now + 60), 0); /* referenced */

    tdb *db = tdb_open(f->dir);
    assert_int_equal(tdb_q1(db, "SELECT refcount FROM chunks"), 1);
    assert_int_equal(tdb_q1(db, "SELECT count(*) FROM chunks WHERE dead_since "
                                "IS NULL"),
                     1);
    assert_int_equal(tdb_q1(db, "SELECT refcount FROM tensors"), 1);
    assert_int_equal(tdb_q1(db, "SELECT live_bytes FROM packs WHERE id = 7"),
                     100);

    tx = begin(f->m, META_READ);
    meta_chunk mc;
    OK(1, meta_chunk_get(tx, chunk, &mc, &err));
    assert_true(mc.checksum == 0xFFFFFFFFFFFFFFF0ull);
    assert_int_equal(mc.container, 7);
    commit(tx);

    /* the file goes: its references with it, the rows age from now */
    char spool[META_SPOOL_NAME_MAX];
    tx = begin(f->m, META_WRITE);
    OK(0, meta_file_delete(tx, file, now, spool, &err));
    assert_string_equal(spool, "g1");
    commit(tx);
    assert_int_equal(tdb_q1(db, "SELECT refcount FROM chunks"), 0);
    assert_true(tdb_q1(db, "SELECT dead_since FROM chunks") >= now - 5);
    assert_int_equal(dead_chunks(f->m, now + 60), 0); /* its tensor names it */

    int64_t n = -1;
    tx = begin(f->m, META_WRITE);
    OK(0, meta_tensor_dead_delete(tx, now - 60, &n, &err));
    assert_int_equal(n, 0); /* within the grace time */
    OK(0, meta_tensor_dead_delete(tx, now + 60, &n, &err));
    assert_int_equal(n, 1);
    commit(tx);
    assert_int_equal(dead_chunks(f->m, now - 60), 0);
    assert_int_equal(dead_chunks(f->m, now + 60), 1);
    tx = begin(f->m, META_WRITE);
    OK(0, meta_chunk_delete(tx, chunk, &err));
    commit(tx);
    assert_int_equal(tdb_q1(db, "SELECT count(*) FROM tensor_blocks"), 0);
    assert_int_equal(tdb_q1(db, "SELECT live_bytes FROM packs WHERE id = 7"),
                     0);
    tdb_close(db);

    tx = begin(f->m, META_READ);
    meta_schema sc;
    OK(0, meta_schema_get(tx, &sc, &err));
    assert_int_equal(sc.applied, meta_migrations_count);
    assert_int_equal(sc.newest, meta_migrations_known_newest());
    assert_int_equal(sc.known, sc.applied);
    assert_int_equal(sc.known_newest, sc.newest);
    commit(tx);
}

/* ---- delta coding: base tensors (migrations/0006_delta.sql) -------------- */

static int collect_base(void *ctx, const meta_base_tensor *t)
{
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 512 - n, "%s:%s:%s:%s:%llu:%lld;", t->name, t->dtype,
             t->shape, t->fingerprint, (unsigned long long)t->raw_len,
             (long long)(t->base_id != 0));
    return 0;
}

static int collect_candidate(void *ctx, const meta_base_candidate *c)
{
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 512 - n, "%s:%s:%lld;", c->repo, c->fingerprint,
             (long long)c->file_id);
    return 0;
}

/* Base detection's candidates for a tensor "w" BF16 [4,8] of 64 bytes. */
static void candidates(meta *m, char out[512])
{
    es_err err = {0, ""};
    out[0] = 0;
    meta_tx *tx = begin(m, META_READ);
    OK(0, meta_base_candidate_each(tx, "w", "BF16", "[4,8]", 64, 16,
                                   collect_candidate, out, &err));
    commit(tx);
}

/* A base tensor listed by a commit, a delta tensor naming it: the base is
 * found by fingerprint and by its commit, as a detection candidate on main
 * and in a mirror's fetched file, survives GC while the delta
 * tensor exists (even with no file left naming it), and goes once the
 * delta tensor went; a repository's declared base is kept and cleared. */
static void test_delta_refs(void **state)
{
    fixture *f = *state;
    es_err err = {0, ""};
    int64_t now = (int64_t)time(NULL), repo = 0, base = 0, delta = 0, id = 0;
    int64_t n = -1;
    uint64_t raw = 0;
    char listed[512] = "", decl[256];
    meta_tx *tx = begin(f->m, META_WRITE);
    int64_t fb = new_file(tx, "b1"), fd = new_file(tx, "d1");
    OK(0, meta_repo_insert(tx, "org/base", "lossless", 5, &repo, &err));
    OK(0, meta_commit_insert(tx, C1, repo, NULL, "first", 5, &err));
    OK(0, meta_ref_insert(tx, repo, "main", "branch", C1, &err));
    OK(0, meta_entry_add(tx, C1, "m.safetensors", fb, &err));
    meta_tensor_new tb = {"aa00", 0, "BF16", "[4,8]", 64, "float", 0, 0};
    OK(1, meta_tensor_insert(tx, &tb, &base, &err));
    meta_tensor_new td = {"dd00", 0, "BF16", "[4,8]", 64, "float", base, 60};
    OK(1, meta_tensor_insert(tx, &td, &delta, &err));
    meta_segment sb = {0, "tensor", "w", "BF16", 8, 64, "float", base};
    OK(0, meta_segment_add(tx, fb, &sb, &err));
    meta_segment member = {1, "tensor", "m", "BF16", 72, 4, NULL, base};
    OK(0, meta_segment_add(tx, fb, &member, &err));
    meta_segment sd = {0, "tensor", "w", "BF16", 8, 64, "float", delta};
    OK(0, meta_segment_add(tx, fd, &sd, &err));
    OK(0, meta_repo_base_get(tx, repo, decl, &err));
    OK(0, meta_repo_base_set(tx, repo, "org/root@v1", &err));
    OK(1, meta_repo_base_get(tx, repo, decl, &err));
    assert_string_equal(decl, "org/root@v1");
    OK(0, meta_repo_base_set(tx, repo, NULL, &err));
    OK(0, meta_repo_base_get(tx, repo, decl, &err));
    commit(tx);

    tx = begin(f->m, META_READ);
    OK(0, meta_base_tensor_each(tx, C1, collect_base, listed, &err));
    assert_string_equal(listed, "w:BF16:[4,8]:aa00:64:0;"); /* no member */
    OK(1, meta_tensor_by_fingerprint(tx, "aa00", &id, &raw, &err));
    assert_int_equal(id, base);
    assert_int_equal(raw, 64);
    OK(0, meta_tensor_by_fingerprint(tx, "ffff", &id, &raw, &err));
    int64_t segs = -1, bytes = -1;
    char holder[200];
    OK(0, meta_file_delta_get(tx, fd, &segs, &bytes, holder, &err));
    assert_int_equal(segs, 1);
    assert_int_equal(bytes, 64);
    assert_string_equal(holder, "org/base"); /* lists the base's file */
    OK(0, meta_file_delta_get(tx, fb, &segs, &bytes, holder, &err));
    assert_int_equal(segs, 0);
    commit(tx);

    /* detection: main's file, then also a file a mirror fetched */
    char want[512], got[512];
    candidates(f->m, got);
    snprintf(want, sizeof want, "org/base:aa00:%lld;", (long long)fb);
    assert_string_equal(got, want);
    tx = begin(f->m, META_WRITE);
    int64_t fm = new_file(tx, "m1");
    OK(0, meta_segment_add(tx, fm, &sb, &err));
    OK(0, meta_mirror_commit_add(tx, "model:up/base", C1, now, &err));
    meta_hf_entry me = {.path = "m.safetensors", .size = 80};
    OK(0, meta_mirror_entry_add(tx, "model:up/base", C1, &me, &err));
    OK(0, meta_mirror_entry_fetched(tx, "model:up/base", C1, "m.safetensors",
                                    fm, &err));
    commit(tx);
    candidates(f->m, got);
    snprintf(want, sizeof want, "model:up/base:aa00:%lld;org/base:aa00:%lld;",
             (long long)fm, (long long)fb);
    assert_string_equal(got, want);
    listed[0] = 0;
    tx = begin(f->m, META_READ);
    OK(0, meta_file_base_tensor_each(tx, fm, collect_base, listed, &err));
    assert_string_equal(listed, "w:BF16:[4,8]:aa00:64:0;");
    commit(tx);
    char spool[META_SPOOL_NAME_MAX];
    tx = begin(f->m, META_WRITE);
    OK(0, meta_file_delete(tx, fm, now, spool, &err));
    commit(tx);
    candidates(f->m, got);
    snprintf(want, sizeof want, "org/base:aa00:%lld;", (long long)fb);
    assert_string_equal(got, want);

    /* the base's file goes: the base tensor stays while the delta names it */
    tx = begin(f->m, META_WRITE);
    OK(0, meta_file_delete(tx, fb, now, spool, &err));
    OK(0, meta_tensor_dead_delete(tx, now + 60, &n, &err));
    assert_int_equal(n, 0);
    OK(1, meta_tensor_by_fingerprint(tx, "aa00", &id, &raw, &err));
    /* then the delta's: the delta tensor goes first, its base after */
    OK(0, meta_file_delete(tx, fd, now, spool, &err));
    OK(0, meta_tensor_dead_delete(tx, now + 60, &n, &err));
    assert_true(n >= 1);
    OK(0, meta_tensor_by_fingerprint(tx, "dd00", &id, &raw, &err));
    OK(0, meta_tensor_dead_delete(tx, now + 60, &n, &err));
    OK(0, meta_tensor_by_fingerprint(tx, "aa00", &id, &raw, &err));
    commit(tx);
}

/* ---- consistency checks (meta_check.c) --------------------------------- */

typedef struct checks_seen {
    char text[1024]; /* "name:problems:repaired;" of each with problems */
    int n;
} checks_seen;

static int on_check(void *ctx, const meta_check_result *r)
{
    checks_seen *c = ctx;
    size_t n = strlen(c->text);
    c->n++;
    if (r->problems)
        snprintf(c->text + n, sizeof c->text - n, "%s:%lld:%lld;", r->name,
                 (long long)r->problems, (long long)r->repaired);
    return 0;
}

static void run_checks(meta *m, int repair, checks_seen *c)
{
    es_err err = {0, ""};
    memset(c, 0, sizeof *c);
    meta_tx *tx = begin(m, repair ? META_WRITE : META_READ);
    OK(0, meta_check_each(tx, repair, 1000, on_check, c, &err));
    commit(tx);
}

/* A consistent store passes every check; counts and totals that drifted
 * are each found by their check and repaired; a base that is a delta
 * itself is found and left. */
static void test_checks(void **state)
{
    fixture *f = *state;
    es_err err = {0, ""};
    checks_seen c;
    meta_tx *tx = begin(f->m, META_WRITE);
    int64_t file = new_file(tx, "k1"), chunk = 0, tensor = 0, delta = 0;
    meta_chunk_new cn = {3, 0, 100, 42, 400, 1};
    OK(0, meta_chunk_insert(tx, &cn, &chunk, &err));
    meta_tensor_new tn = {"k0", 0, "F32", "[100]", 400, "zstd", 0, 0};
    OK(1, meta_tensor_insert(tx, &tn, &tensor, &err));
    meta_tensor_new td = {"k1", 0, "F32", "[100]", 400, "delta", tensor, 300};
    OK(1, meta_tensor_insert(tx, &td, &delta, &err));
    meta_block b = {0, 0, 400, chunk};
    OK(0, meta_tensor_block_add(tx, tensor, &b, &err));
    OK(0, meta_tensor_block_add(tx, delta, &b, &err));
    OK(0, meta_block_add(tx, file, &b, &err));
    meta_segment sg = {0, "tensor", "w", "F32", 0, 400, "delta", delta};
    OK(0, meta_segment_add(tx, file, &sg, &err));
    commit(tx);
    tdb *db = tdb_open(f->dir);
    tdb_exec(db, "UPDATE files SET state = 'stored', size = 400");
    run_checks(f->m, 0, &c);
    assert_int_equal(c.n, 14);
    assert_string_equal(c.text, "");

    tdb_exec(db, "UPDATE chunks SET refcount = refcount + 3");
    tdb_exec(db, "UPDATE packs SET live_bytes = live_bytes + 1");
    tdb_exec(db, "UPDATE tensors SET dead_since = NULL WHERE refcount = 0");
    run_checks(f->m, 0, &c);
    assert_string_equal(c.text, "chunk_refcount:1:0;tensor_dead_mark:1:0;"
                                "pack_totals:1:0;");
    run_checks(f->m, 1, &c);
    assert_string_equal(c.text, "chunk_refcount:1:1;tensor_dead_mark:1:1;"
                                "pack_totals:1:1;");
    run_checks(f->m, 0, &c);
    assert_string_equal(c.text, "");
    assert_int_equal(tdb_q1(db, "SELECT refcount FROM chunks"), 1);
    assert_int_equal(
        tdb_q1(db, "SELECT dead_since FROM tensors WHERE refcount = 0"), 1000);

    /* (a base row that is gone: server_fsck.sh; PostgreSQL's foreign
     * keys refuse to make one) */
    tdb_exec(db, "UPDATE tensors SET base_id = id WHERE base_id IS NULL");
    run_checks(f->m, 1, &c);
    assert_string_equal(c.text, "delta_chain:2:0;");
    tdb_close(db);
}

/* ---- GC on one replica, dedup on another ------------------------------- */

/* A tensor T and its one chunk, unreferenced since long ago (dead_since 1),
 * as a file deleted an hour before leaves them. */
static void old_dead_tensor(meta *m, const char *dir, const char *fp,
                            int64_t *tensor, int64_t *chunk)
{
    es_err err = {0, ""};
    meta_tx *tx = begin(m, META_WRITE);
    meta_chunk_new cn = {9, 0, 50, 42, 200, 1};
    OK(0, meta_chunk_insert(tx, &cn, chunk, &err));
    meta_tensor_new tn = {fp, 0, "F32", "[50]", 200, "zstd", 0, 0};
    OK(1, meta_tensor_insert(tx, &tn, tensor, &err));
    meta_block b = {0, 0, 200, *chunk};
    OK(0, meta_tensor_block_add(tx, *tensor, &b, &err));
    commit(tx);
    tdb *db = tdb_open(dir);
    tdb_exec(db, "UPDATE tensors SET dead_since = 1 WHERE refcount = 0");
    tdb_exec(db, "UPDATE chunks SET dead_since = 1 WHERE refcount = 0");
    tdb_close(db);
}

/* What GC's first transaction does (gc.c), with a grace of 60 s: the
 * tensors it deleted, and the chunks whose bytes it would delete next. */
static void gc_pass(meta *m, int64_t now, int64_t *tensors, int64_t *chunks)
{
    es_err err = {0, ""};
    meta_tx *tx = begin(m, META_WRITE);
    OK(0, meta_tensor_dead_delete(tx, now - 60, tensors, &err));
    dead_ctx dc = {0};
    OK(0, meta_chunk_dead_each(tx, now - 60, count_dead, &dc, &err));
    *chunks = dc.n;
    commit(tx);
}

static int tensor_find(meta *m, const char *fp, int64_t *id)
{
    es_err err = {0, ""};
    char codec[16];
    meta_tx *tx = begin(m, META_READ);
    int rc = meta_tensor_find(tx, fp, 200, 0, id, codec, &err);
    commit(tx);
    return rc;
}

static int tensor_hold(meta *m, int64_t id)
{
    es_err err = {0, ""};
    meta_tx *tx = begin(m, META_WRITE);
    int rc = meta_tensor_hold(tx, id, &err);
    commit(tx);
    return rc;
}

/* The interleavings of an ingest on replica B that dedups against an
 * unreferenced tensor with a GC on replica A (two backends on one
 * database, as two processes have): B finds the tensor, holds it
 * (ingest.c), commits a file naming it and its chunk; A's GC runs
 * between any two of those steps.  Either A collects the tensor before
 * B holds it (B's hold says so and B stores the data anew), or it
 * collects nothing B references: never a chunk whose bytes it deletes
 * while a committed file names it. */
static void test_gc_vs_dedup_across_replicas(void **state)
{
    fixture *f = *state;
    es_err err = {0, ""};
    int64_t now = (int64_t)time(NULL), t = 0, c = 0, id = 0, nt, nc;
    meta *a = f->m, *b = open_meta(f->dir);

    /* B holds before A collects: A's GC leaves the tensor and its chunk */
    old_dead_tensor(a, f->dir, "fp-held", &t, &c);
    assert_int_equal(tensor_find(b, "fp-held", &id), 2); /* no reference */
    assert_int_equal(id, t);
    assert_int_equal(tensor_hold(b, t), 1);
    gc_pass(a, now, &nt, &nc);
    assert_int_equal(nt, 0);
    assert_int_equal(nc, 0);
    meta_tx *tx = begin(b, META_WRITE);
    int64_t file = new_file(tx, "i1");
    meta_segment sg = {0, "tensor", "w", "F32", 0, 200, "zstd", t};
    OK(0, meta_segment_add(tx, file, &sg, &err));
    meta_block bl = {0, 0, 200, c};
    OK(0, meta_block_add(tx, file, &bl, &err));
    commit(tx);
    assert_int_equal(tensor_find(a, "fp-held", &id), 1); /* referenced now */
    gc_pass(a, now + 3600, &nt, &nc);
    assert_int_equal(nt, 0);
    assert_int_equal(nc, 0);

    /* A collects between B's find and B's hold: the hold fails, B stores
     * anew, and the chunk A frees is named by nothing */
    old_dead_tensor(a, f->dir, "fp-gone", &t, &c);
    assert_int_equal(tensor_find(b, "fp-gone", &id), 2);
    gc_pass(a, now, &nt, &nc);
    assert_int_equal(nt, 1);
    assert_int_equal(nc, 1);
    assert_int_equal(tensor_hold(b, id), 0);
    assert_int_equal(tensor_find(b, "fp-gone", &id), 0);
    tdb *db = tdb_open(f->dir);
    assert_int_equal(tdb_q1(db, "SELECT count(*) FROM chunks c WHERE "
                                "refcount = 0 AND EXISTS (SELECT 1 FROM "
                                "tensor_blocks tb WHERE tb.chunk_id = c.id)"),
                     0);
    tdb_close(db);

    /* a hold of a referenced tensor keeps it referenced, not dead */
    assert_int_equal(tensor_find(b, "fp-held", &id), 1);
    assert_int_equal(tensor_hold(b, id), 1);
    db = tdb_open(f->dir);
    assert_int_equal(tdb_q1(db, "SELECT count(*) FROM tensors WHERE "
                                "fingerprint = 'fp-held' AND dead_since IS "
                                "NULL AND refcount = 1"),
                     1);
    tdb_close(db);
    meta_close(b);
}

/* ---- concurrent claims ----------------------------------------------------
 */

#define CLAIM_JOBS 120
#define CLAIMERS 4

typedef struct claimer {
    meta *m;
    int64_t got[CLAIM_JOBS];
    int n;
    int failed;
} claimer;

static void *claim_all(void *arg)
{
    claimer *c = arg;
    for (;;) {
        es_err err = {0, ""};
        meta_tx *tx;
        if (meta_begin(c->m, META_WRITE, &tx, &err) < 0) {
            c->failed = 1;
            return NULL;
        }
        int64_t job = 0, file = 0;
        int rc = meta_job_claim(tx, 1, 1000, &job, &file, &err);
        if (rc <= 0 || meta_commit(tx, &err) < 0) {
            if (rc <= 0)
                meta_rollback(tx);
            c->failed = rc < 0;
            return NULL;
        }
        if (c->n < CLAIM_JOBS)
            c->got[c->n++] = job;
    }
}

static void test_concurrent_claims(void **state)
{
    fixture *f = *state;
    es_err err = {0, ""};
    meta_tx *tx = begin(f->m, META_WRITE);
    int64_t file = new_file(tx, "c1");
    for (int i = 0; i < CLAIM_JOBS; i++) {
        int64_t id;
        OK(0, meta_job_insert(tx, file, "org/a", "p", 1, 1, &id, &err));
    }
    commit(tx);
    /* two backends on one database, as two processes would be */
    meta *other = open_meta(f->dir);
    static claimer cl[CLAIMERS];
    pthread_t th[CLAIMERS];
    for (int i = 0; i < CLAIMERS; i++) {
        memset(&cl[i], 0, sizeof cl[i]);
        cl[i].m = i % 2 ? other : f->m;
        pthread_create(&th[i], NULL, claim_all, &cl[i]);
    }
    static char seen[CLAIM_JOBS * 4 + 8];
    memset(seen, 0, sizeof seen);
    int total = 0;
    for (int i = 0; i < CLAIMERS; i++) {
        pthread_join(th[i], NULL);
        assert_false(cl[i].failed);
        for (int k = 0; k < cl[i].n; k++) {
            int64_t id = cl[i].got[k];
            assert_true(id > 0 && id < (int64_t)sizeof seen);
            if (seen[id])
                fail_msg("job %lld claimed twice", (long long)id);
            seen[id] = 1;
            total++;
        }
    }
    assert_int_equal(total, CLAIM_JOBS);
    meta_close(other);
}

/* ---- PostgreSQL: a restart between two transactions ---------------------- */

static void test_reconnect(void **state)
{
    fixture *f = *state;
    const char *restart = getenv("ELVES_TEST_PG_RESTART");
    if (!tdb_server() || !restart)
        return; /* SQLite: no server to lose */
    es_err err = {0, ""};
    /* two connections in the pool, both to be found broken */
    meta_tx *a = begin(f->m, META_READ), *b = begin(f->m, META_READ);
    commit(a);
    commit(b);
    assert_int_equal(system(restart), 0);
    meta_tx *tx = begin(f->m, META_WRITE);
    OK(0, meta_token_add(tx, "after",
                         "dddddddddddddddddddddddddddddddddddddddddddddddddddd"
                         "dddddddddddd",
                         1, 1, &err));
    commit(tx);
    a = begin(f->m, META_READ);
    b = begin(f->m, META_READ);
    int64_t n = 0;
    OK(0, meta_token_count(b, &n, &err));
    assert_int_equal(n, 1);
    commit(a);
    commit(b);
}

/* ---- SQLite: a database made before migration 0004 ------------------------
 */

static void test_sqlite_upgrade(void **state)
{
    (void)state;
    if (tdb_server())
        return;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/upgrade-XXXXXX", ELVES_TEST_TMP);
    assert_non_null(mkdtemp(dir));
    char path[4200];
    snprintf(path, sizeof path, "%s/elves.db", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    /* what elvesd with migrations 0001..0003 left, as it applied them */
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TABLE schema_migrations (version "
                                  "INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                                  "applied_at INTEGER NOT NULL)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    for (int i = 0; i < 3; i++) {
        char *sql =
            meta_migration_sql(meta_migrations[i].sql, META_DIALECT_SQLITE);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        free(sql);
        char rec[200];
        snprintf(rec, sizeof rec,
                 "INSERT INTO schema_migrations VALUES (%d, '%s', 1)",
                 meta_migrations[i].version, meta_migrations[i].name);
        assert_int_equal(sqlite3_exec(db, rec, NULL, NULL, NULL), SQLITE_OK);
    }
    assert_int_equal(
        sqlite3_exec(db,
                     "INSERT INTO chunks (pack, offset, length, checksum, "
                     "raw_len, codec) VALUES (1, 0, 10, 0, 10, 0), (1, 10, "
                     "10, 0, 10, 0);"
                     "INSERT INTO files (size, sha256, upload_size, "
                     "upload_sha256, mode, state, created) VALUES (1, 'x', "
                     "1, 'x', 'lossless', 'stored', 1);"
                     "INSERT INTO file_blocks VALUES (1, 0, 0, 10, 2);",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);

    meta *m = open_meta(dir);
    tdb *t = tdb_open(dir);
    assert_int_equal(tdb_q1(t, "SELECT count(*) FROM schema_migrations"),
                     meta_migrations_count);
    assert_int_equal(tdb_q1(t, "SELECT dead_since FROM chunks WHERE id = 1"),
                     0);
    assert_int_equal(tdb_q1(t, "SELECT count(*) FROM chunks WHERE id = 2 AND "
                               "dead_since IS NULL"),
                     1);
    assert_int_equal(tdb_q1(t, "SELECT live_bytes FROM packs WHERE id = 1"),
                     20);
    tdb_close(t);
    assert_int_equal(dead_chunks(m, 1), 1); /* dead since forever */
    meta_close(m);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_repos_refs_entries, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_hub_calls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jobs_leases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delta_refs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refcounts_and_grace, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_gc_vs_dedup_across_replicas, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_claims, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reconnect, setup, teardown),
        cmocka_unit_test(test_sqlite_upgrade),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
