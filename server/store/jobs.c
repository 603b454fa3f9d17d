/*
 * jobs.c - the durable job queue (rows of the jobs table) and the fixed
 * pool of worker threads that claims and runs them (ingest.c does the
 * work).  Idle workers also run garbage collection when a delete asked for
 * it.
 *
 * States: queued -> running -> done | failed.  A claim is a lease of
 * st->job_lease_s seconds that, with replicas, a keeper thread renews
 * every third of it while the job runs.  With one process on the database (SQLite) a job
 * found 'running' at start-up belonged to a process that died: it is
 * requeued.  With replicas sharing it, only a job whose lease ran out is:
 * the keeper of every replica requeues those as it renews its own, and
 * looks for jobs other replicas queued (their wake-ups do not reach it).
 * A job cut short by shutdown goes back to 'queued'.  Progress of
 * running jobs lives in memory (no write per block) and is saved when the
 * job ends.
 *
 * A job whose chunk store failed (INGEST_RETRY) waits RETRY_WAIT_MS, four
 * times longer after each attempt, and is queued again; after
 * MAX_ATTEMPTS claims it fails like any other.  The wait holds its worker
 * (and the row 'running'), so no other worker takes the job sooner; a
 * shutdown cuts it short.
 */
#include "store_internal.h"

#include "log.h"
#include "metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ATTEMPTS 3
#define POLL_MS 1000L /* shared database: how often idle replicas look */
#define RETRY_WAIT_MS 200L  /* before the 2nd attempt; x4 for the 3rd */
#define FINISH_TRIES 3      /* recording how a job ended */
#define FINISH_WAIT_MS 50L  /* x2, x4 between those tries */
#define CLAIM_RETRY_MS 500L /* after the queue could not be read */

typedef struct job_slot {
    int64_t job_id; /* 0 when idle */
    _Atomic int64_t progress;
} job_slot;

struct jobs_pool {
    es_store *st;
    pthread_t *threads;
    unsigned n;
    job_slot *slots;
    pthread_mutex_t mu;
    pthread_cond_t wake; /* a job was queued, gc asked, or stop */
    pthread_cond_t idle; /* a worker finished something */
    uint64_t seq;        /* bumped on every wake-up reason */
    unsigned active;     /* workers inside a claim/job/gc */
    int gc_requested;
    int stop;
    pthread_t keeper;
    int keeper_started;
};

/* ---- the queue ----------------------------------------------------------- */

/* Requeues running jobs whose lease ended before `now`. */
static int requeue_expired(es_store *st, int64_t now, es_err *err)
{
    meta_tx *tx;
    if (meta_begin(st->meta, META_WRITE, &tx, err) < 0)
        return -1;
    return meta_end(tx, meta_job_requeue_expired(tx, now, err), err);
}

int jobs_requeue_running(es_store *st, es_err *err)
{
    /* one process: every running job was the dead process's */
    return requeue_expired(st, st->shared ? es_now() : INT64_MAX, err);
}

/* 1 and the job if one was claimed, 0 if the queue is empty.  *attempt:
 * which claim of the job this is, its fencing token (meta.h: job_owned). */
static int claim(es_store *st, int64_t *job_id, int64_t *attempt,
                 int64_t *file_id, es_err *err)
{
    meta_tx *tx;
    if (meta_begin(st->meta, META_WRITE, &tx, err) < 0)
        return -1;
    int64_t now = es_now();
    int rc =
        meta_job_claim(tx, now, now + st->job_lease_s, job_id, file_id, err);
    if (rc > 0 && meta_job_attempts(tx, *job_id, attempt, err) < 0)
        rc = -1;
    if (rc <= 0) {
        meta_rollback(tx);
        return rc;
    }
    return meta_commit(tx, err) < 0 ? -1 : 1;
}

/* Records how a job that did not commit its own result ended, unless its
 * lease ran out and it is another claim's now (then that claim records
 * it).  0 recorded or not ours, -1 + err the database failed. */
static int finish_tx(meta_tx *tx, int64_t job_id, int64_t attempt,
                     int64_t file_id, const char *job_state,
                     const char *file_state, const char *error,
                     int64_t progress, es_err *err)
{
    int owned = meta_job_owned(tx, job_id, attempt, err);
    if (owned <= 0) {
        if (owned == 0)
            fprintf(stderr,
                    "elvesd: job %lld: lease lost, claim %lld ends "
                    "unrecorded (another claim runs it)\n",
                    (long long)job_id, (long long)attempt);
        return owned;
    }
    return meta_job_finish(tx, job_id, file_id, job_state, file_state, error,
                           progress, es_now(), err);
}

static void finish(es_store *st, int64_t job_id, int64_t attempt,
                   int64_t file_id, const char *job_state,
                   const char *file_state, const char *error, int64_t progress)
{
    /* A database that failed the job's own commit may be back in a
     * moment: a job whose end is not recorded stays "running" until its
     * lease runs out or the next start requeues it. */
    es_err err;
    for (int try = 0; try < FINISH_TRIES; try++) {
        if (try > 0) {
            struct timespec pause = {0, FINISH_WAIT_MS * 1000000L << try};
            nanosleep(&pause, NULL);
        }
        meta_tx *tx;
        if (meta_begin(st->meta, META_WRITE, &tx, &err) == 0 &&
            meta_end(tx,
                     finish_tx(tx, job_id, attempt, file_id, job_state,
                               file_state, error, progress, &err),
                     &err) == 0)
            return;
        fprintf(stderr, "elvesd: job %lld: cannot record its end: %s\n",
                (long long)job_id, err.msg);
    }
}

static int64_t job_attempts(es_store *st, int64_t job_id)
{
    es_err err;
    int64_t n = MAX_ATTEMPTS;
    meta_tx *tx;
    if (meta_begin(st->meta, META_READ, &tx, &err) == 0)
        meta_end(tx, meta_job_attempts(tx, job_id, &n, &err), &err);
    return n;
}

/* The CLOCK_REALTIME instant ms from now, for pthread_cond_timedwait. */
static struct timespec deadline_in(long ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += ms % 1000 * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    return until;
}

/* Sleeps ms unless the pool stops first (other wake-ups, such as a new
 * job, do not end it); 1 if it stopped. */
static int pool_sleep(jobs_pool *p, long ms)
{
    struct timespec until = deadline_in(ms);
    pthread_mutex_lock(&p->mu);
    while (!p->stop &&
           pthread_cond_timedwait(&p->wake, &p->mu, &until) != ETIMEDOUT)
        ;
    int stop = p->stop;
    pthread_mutex_unlock(&p->mu);
    return stop;
}

/* Sleeps before attempt attempts + 1 unless the pool stops first. */
static void retry_wait(jobs_pool *p, int64_t attempts)
{
    pool_sleep(p, RETRY_WAIT_MS << (2 * (attempts - 1)));
}

static void run_job(es_store *st, job_slot *slot, int64_t job_id,
                    int64_t attempt, int64_t file_id)
{
    es_err err = {0, ""};
    if (!file_id) {
        finish(st, job_id, attempt, 0, "failed", "failed", "file deleted", 0);
        return;
    }
    int rc = ingest_file(st, job_id, attempt, file_id, &slot->progress, &err);
    int64_t progress = atomic_load(&slot->progress);
    int64_t attempts = rc == INGEST_RETRY ? job_attempts(st, job_id) : 0;
    if (rc == INGEST_RETRY && attempts >= MAX_ATTEMPTS) {
        es_errf(&err, err.status, "after %lld attempts: %s",
                (long long)attempts, err.msg);
        rc = INGEST_FAILED;
    }
    switch (rc) {
    case INGEST_OK:
        break;
    case INGEST_RETRY:
        fprintf(stderr, "elvesd: job %lld: attempt %lld failed, retrying: %s\n",
                (long long)job_id, (long long)attempts, err.msg);
        retry_wait(st->jobs, attempts);
        finish(st, job_id, attempt, file_id, "queued", "spooled", NULL, 0);
        break;
    case INGEST_LOST: /* the claim that runs it now records its end */
        fprintf(stderr, "elvesd: job %lld: %s\n", (long long)job_id, err.msg);
        break;
    case INGEST_STOPPED:
        finish(st, job_id, attempt, file_id, "queued", "spooled", NULL, 0);
        break;
    default:
        fprintf(stderr, "elvesd: job %lld failed: %s\n", (long long)job_id,
                err.msg);
        finish(st, job_id, attempt, file_id, "failed", "failed", err.msg,
               progress);
        break;
    }
}

/* ---- the workers ------------------------------------------------------------
 */

static void worker_gc(es_store *st)
{
    es_err err;
    json_t *report = NULL;
    if (store_gc(st, &report, &err) < 0)
        fprintf(stderr, "elvesd: gc: %s\n", err.msg);
    json_decref(report);
}

/* One pass: run a job if there is one, else a requested GC.  Returns 1 if
 * it did something (so the worker looks again before sleeping), -1 if the
 * queue could not be read (so it looks again after CLAIM_RETRY_MS). */
static int worker_pass(jobs_pool *p, job_slot *slot)
{
    es_store *st = p->st;
    int64_t job_id = 0, attempt = 0, file_id = 0;
    es_err err;
    int rc = claim(st, &job_id, &attempt, &file_id, &err);
    if (rc < 0) {
        fprintf(stderr, "elvesd: claiming a job: %s\n", err.msg);
        return -1;
    }
    if (rc == 1) {
        pthread_mutex_lock(&p->mu);
        slot->job_id = job_id;
        atomic_store(&slot->progress, 0);
        pthread_mutex_unlock(&p->mu);
        metrics_worker_busy(1);
        run_job(st, slot, job_id, attempt, file_id);
        metrics_worker_busy(-1);
        pthread_mutex_lock(&p->mu);
        slot->job_id = 0;
        pthread_mutex_unlock(&p->mu);
        return 1;
    }
    pthread_mutex_lock(&p->mu);
    int gc = p->gc_requested;
    p->gc_requested = 0;
    pthread_mutex_unlock(&p->mu);
    if (gc)
        worker_gc(st);
    return gc;
}

typedef struct worker_arg {
    jobs_pool *pool;
    job_slot *slot;
} worker_arg;

static void *worker_thread(void *arg)
{
    worker_arg a = *(worker_arg *)arg;
    free(arg);
    jobs_pool *p = a.pool;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        uint64_t seen = p->seq;
        p->active++;
        pthread_mutex_unlock(&p->mu);
        int busy = atomic_load(&p->st->stopping) ? 0 : worker_pass(p, a.slot);
        pthread_mutex_lock(&p->mu);
        p->active--;
        pthread_cond_broadcast(&p->idle);
        if (busy < 0 && !p->stop) { /* the database failed: try again soon */
            struct timespec until = deadline_in(CLAIM_RETRY_MS);
            pthread_cond_timedwait(&p->wake, &p->mu, &until);
        } else if (!busy && !p->stop && p->seq == seen) {
            pthread_cond_wait(&p->wake, &p->mu);
        }
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void wake(es_store *st, int gc)
{
    jobs_pool *p = st->jobs;
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->seq++;
    if (gc)
        p->gc_requested = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
}

void jobs_notify(es_store *st)
{
    wake(st, 0);
}

void jobs_request_gc(es_store *st)
{
    wake(st, 1);
}

/* ---- the lease keeper --------------------------------------------------- */

/* Renews the lease of every job this process runs.  A lease found lost
 * (another replica requeued the job after this one failed to renew in
 * time) is logged: the job's own commit then races the other replica's,
 * and the file version ends stored either way. */
static void renew_leases(jobs_pool *p)
{
    es_store *st = p->st;
    int64_t ids[p->n ? p->n : 1];
    unsigned n = 0;
    pthread_mutex_lock(&p->mu);
    for (unsigned i = 0; i < p->n; i++)
        if (p->slots[i].job_id)
            ids[n++] = p->slots[i].job_id;
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < n; i++) {
        es_err err;
        meta_tx *tx;
        int rc = meta_begin(st->meta, META_WRITE, &tx, &err);
        if (rc == 0) {
            rc = meta_job_renew(tx, ids[i], es_now() + st->job_lease_s, &err);
            rc = meta_end(tx, rc < 0 ? -1 : 0, &err) < 0 ? -1 : rc;
        }
        if (rc < 0)
            log_msg(LOG_LVL_WARN, "job %lld: renewing its lease: %s",
                    (long long)ids[i], err.msg);
        else if (rc == 0)
            log_msg(LOG_LVL_WARN,
                    "job %lld: lease lost (not renewed within %lld s)",
                    (long long)ids[i], (long long)st->job_lease_s);
    }
}

static void *keeper_thread(void *arg)
{
    jobs_pool *p = arg;
    es_store *st = p->st;
    long renew_ms = (long)st->job_lease_s * 1000 / 3;
    long step = st->shared && POLL_MS < renew_ms ? POLL_MS : renew_ms;
    long since_renew = 0;
    while (!pool_sleep(p, step)) {
        since_renew += step;
        if (since_renew >= renew_ms) {
            since_renew = 0;
            renew_leases(p);
            es_err err;
            if (st->shared && requeue_expired(st, es_now(), &err) < 0)
                log_msg(LOG_LVL_WARN, "requeueing expired jobs: %s", err.msg);
        }
        if (st->shared) /* jobs other replicas queued */
            wake(st, 0);
    }
    return NULL;
}

int jobs_start(es_store *st, es_err *err)
{
    jobs_pool *p = calloc(1, sizeof *p);
    if (!p)
        return es_errf(err, 500, "out of memory");
    p->st = st;
    p->n = st->workers;
    p->threads = calloc(p->n, sizeof *p->threads);
    p->slots = calloc(p->n, sizeof *p->slots);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->idle, NULL);
    st->jobs = p;
    if (!p->threads || !p->slots) {
        p->n = 0;
        return es_errf(err, 500, "out of memory");
    }
    unsigned want = p->n;
    metrics_workers_total(want);
    for (p->n = 0; p->n < want; p->n++) { /* jobs_stop joins p->n threads */
        worker_arg *a = malloc(sizeof *a);
        if (!a)
            return es_errf(err, 500, "out of memory");
        a->pool = p;
        a->slot = &p->slots[p->n];
        if (pthread_create(&p->threads[p->n], NULL, worker_thread, a) != 0) {
            free(a);
            return es_errf(err, 500, "cannot start worker thread");
        }
    }
    if (!st->shared) /* one process: nobody to take a job over */
        return 0;
    if (pthread_create(&p->keeper, NULL, keeper_thread, p) != 0)
        return es_errf(err, 500, "cannot start the job lease keeper");
    p->keeper_started = 1;
    return 0;
}

void jobs_stop(es_store *st)
{
    jobs_pool *p = st->jobs;
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->n; i++)
        pthread_join(p->threads[i], NULL);
    if (p->keeper_started)
        pthread_join(p->keeper, NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->idle);
    free(p->threads);
    free(p->slots);
    free(p);
    st->jobs = NULL;
}

int64_t jobs_progress(es_store *st, int64_t job_id)
{
    jobs_pool *p = st->jobs;
    int64_t v = -1;
    if (!p)
        return -1;
    pthread_mutex_lock(&p->mu);
    for (unsigned i = 0; i < p->n; i++)
        if (p->slots[i].job_id == job_id)
            v = atomic_load(&p->slots[i].progress);
    pthread_mutex_unlock(&p->mu);
    return v;
}

/* Jobs queued or running in the database. */
static int64_t pending_jobs(es_store *st)
{
    es_err err;
    int64_t n = 0;
    meta_tx *tx;
    if (meta_begin(st->meta, META_READ, &tx, &err) < 0 ||
        meta_end(tx, meta_job_pending(tx, &n, &err), &err) < 0)
        n = 0;
    return n;
}

void store_wait_idle(es_store *st)
{
    jobs_pool *p = st->jobs;
    if (!p)
        return;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        int quiet = p->active == 0 && !p->gc_requested;
        int stopped = p->stop;
        if (!quiet && !stopped) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 50 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&p->idle, &p->mu, &ts);
        }
        pthread_mutex_unlock(&p->mu);
        if (stopped || (quiet && pending_jobs(st) == 0))
            return;
        if (quiet)
            jobs_notify(st); /* queued rows but nobody awake: poke */
    }
}

/* ---- job status
 * ---------------------------------------------------------------- */

static json_t *job_json(es_store *st, const meta_job *job)
{
    int64_t progress = job->progress_bytes;
    if (strcmp(job->state, "running") == 0) {
        int64_t live = jobs_progress(st, job->id);
        if (live >= 0)
            progress = live;
    }
    json_t *j = json_pack("{s:I, s:s, s:I, s:s, s:s, s:I, s:I}", "id",
                          (json_int_t)job->id, "state", job->state, "file",
                          (json_int_t)job->file_id, "repo", job->repo, "path",
                          job->path, "progress_bytes", (json_int_t)progress,
                          "total_bytes", (json_int_t)job->total_bytes);
    if (j && job->has_error)
        json_object_set_new(j, "error", json_string(job->error));
    return j;
}

int store_job_get(es_store *st, int64_t id, json_t **out, es_err *err)
{
    meta_tx *tx;
    meta_job job;
    if (meta_begin(st->meta, META_READ, &tx, err) < 0)
        return -1;
    int rc = meta_end(tx, meta_job_get(tx, id, &job, err), err);
    if (rc == 0)
        return es_errf(err, 404, "job %lld not found", (long long)id);
    if (rc < 0)
        return -1;
    *out = job_json(st, &job);
    return *out ? 0 : es_errf(err, 500, "out of memory");
}
