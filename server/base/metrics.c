/*
 * metrics.c - process-wide counters and their Prometheus text rendering.
 *
 * Request series live in a fixed open-addressing table: a slot is claimed
 * once with a compare-and-swap (empty -> filling -> ready) and never freed,
 * so counting a request takes no lock and readers never see a half-written
 * key.  Routes are the patterns of the route tables, so the number of
 * series stays small whatever the clients ask for.
 */
#include "metrics.h"

#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

enum { SLOT_EMPTY = 0, SLOT_FILLING, SLOT_READY };

typedef struct series {
    atomic_int state;
    char route[128]; /* pattern, or "unmatched" / "other" */
    char method[12];
    unsigned status;
    atomic_uint_fast64_t count;
} series;

static const double bucket_le[] = {0.005, 0.01, 0.025, 0.05, 0.1,
                                   0.25,  0.5,  1,     2.5,  5,
                                   10,    30,   60,    300};
#define NBUCKETS (sizeof bucket_le / sizeof bucket_le[0])

static struct {
    series table[METRICS_MAX_SERIES];
    series other; /* overflow */
    atomic_uint_fast64_t bytes_in, bytes_out;
    atomic_int inflight;
    atomic_uint_fast64_t buckets[NBUCKETS + 1]; /* last: +Inf only */
    atomic_uint_fast64_t latency_count, latency_sum_us;
    atomic_uint_fast64_t dedup_file, dedup_tensor;
    atomic_uint_fast64_t cache_hit, cache_miss;
    atomic_uint_fast64_t cs_put, cs_get, cs_sync, cs_other;
    atomic_uint workers, busy;
    atomic_uint_fast64_t busy_us;
} m;

#define RLX memory_order_relaxed

/* ---- request series ------------------------------------------------------ */

static uint64_t hash_key(const char *route, const char *method,
                         unsigned status)
{
    uint64_t h = 1469598103934665603ull ^ status;
    for (const char *p = route; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    for (const char *p = method; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h;
}

static int slot_is(series *s, const char *route, const char *method,
                   unsigned status)
{
    int st;
    while ((st = atomic_load_explicit(&s->state, memory_order_acquire)) ==
           SLOT_FILLING)
        sched_yield(); /* another thread is writing the key: a moment */
    return st == SLOT_READY && s->status == status &&
           strcmp(s->route, route) == 0 && strcmp(s->method, method) == 0;
}

static series *find_series(const char *route, const char *method,
                           unsigned status)
{
    uint64_t h = hash_key(route, method, status);
    for (unsigned i = 0; i < METRICS_MAX_SERIES; i++) {
        series *s = &m.table[(h + i) % METRICS_MAX_SERIES];
        if (slot_is(s, route, method, status))
            return s;
        int expect = SLOT_EMPTY;
        if (atomic_compare_exchange_strong(&s->state, &expect, SLOT_FILLING)) {
            snprintf(s->route, sizeof s->route, "%s", route);
            snprintf(s->method, sizeof s->method, "%s", method);
            s->status = status;
            atomic_store_explicit(&s->state, SLOT_READY, memory_order_release);
            return s;
        }
        if (slot_is(s, route, method, status)) /* someone else just did */
            return s;
    }
    return &m.other;
}

static void observe_latency(double seconds)
{
    size_t b = 0;
    while (b < NBUCKETS && seconds > bucket_le[b])
        b++;
    atomic_fetch_add_explicit(&m.buckets[b], 1, RLX);
    atomic_fetch_add_explicit(&m.latency_count, 1, RLX);
    atomic_fetch_add_explicit(&m.latency_sum_us,
                              (uint64_t)(seconds > 0 ? seconds * 1e6 : 0), RLX);
}

void metrics_http_request(const char *route, const char *method,
                          unsigned status, uint64_t bytes_in,
                          uint64_t bytes_out, double seconds)
{
    series *s = find_series(route ? route : "unmatched",
                            method ? method : "-", status);
    atomic_fetch_add_explicit(&s->count, 1, RLX);
    atomic_fetch_add_explicit(&m.bytes_in, bytes_in, RLX);
    atomic_fetch_add_explicit(&m.bytes_out, bytes_out, RLX);
    observe_latency(seconds);
}

void metrics_http_inflight(int delta)
{
    atomic_fetch_add_explicit(&m.inflight, delta, RLX);
}

/* ---- store hooks --------------------------------------------------------- */

void metrics_dedup_file(void)
{
    atomic_fetch_add_explicit(&m.dedup_file, 1, RLX);
}

void metrics_dedup_tensor(void)
{
    atomic_fetch_add_explicit(&m.dedup_tensor, 1, RLX);
}

void metrics_cache_lookup(int hit)
{
    atomic_fetch_add_explicit(hit ? &m.cache_hit : &m.cache_miss, 1, RLX);
}

void metrics_chunkstore_error(const char *op)
{
    atomic_uint_fast64_t *c = &m.cs_other;
    if (op && strcmp(op, "put") == 0)
        c = &m.cs_put;
    else if (op && strcmp(op, "get") == 0)
        c = &m.cs_get;
    else if (op && strcmp(op, "sync") == 0)
        c = &m.cs_sync;
    atomic_fetch_add_explicit(c, 1, RLX);
}

void metrics_workers_total(unsigned n)
{
    atomic_store_explicit(&m.workers, n, RLX);
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Each worker is one thread, so its start time is thread-local. */
static _Thread_local uint64_t busy_since;

void metrics_worker_busy(int delta)
{
    if (delta > 0) {
        busy_since = now_us();
        atomic_fetch_add_explicit(&m.busy, 1, RLX);
    } else if (busy_since != 0) {
        atomic_fetch_add_explicit(&m.busy_us, now_us() - busy_since, RLX);
        busy_since = 0;
        atomic_fetch_sub_explicit(&m.busy, 1, RLX);
    }
}

void metrics_reset(void)
{
    memset(&m, 0, sizeof m);
}

/* ---- rendering ------------------------------------------------------------- */

void metrics_label_escape(char *out, size_t cap, const char *s)
{
    size_t o = 0;
    for (; s && *s && o + 2 < cap; s++) {
        if (*s == '\\' || *s == '"') {
            out[o++] = '\\';
            out[o++] = *s;
        } else if (*s == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = *s;
        }
    }
    if (cap > 0)
        out[o < cap ? o : cap - 1] = '\0';
}

void metrics_family(FILE *f, const char *name, const char *type,
                    const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void metrics_gauge(FILE *f, const char *name, const char *type,
                   const char *help, double value)
{
    metrics_family(f, name, type, help);
    fprintf(f, "%s %.17g\n", name, value);
}

static uint64_t get(atomic_uint_fast64_t *c)
{
    return atomic_load_explicit(c, RLX);
}

static void write_series(FILE *f, series *s)
{
    char route[256];
    metrics_label_escape(route, sizeof route, s->route);
    fprintf(f,
            "elves_http_requests_total{route=\"%s\",method=\"%s\","
            "status=\"%u\"} %llu\n",
            route, s->method, s->status, (unsigned long long)get(&s->count));
}

static void write_requests(FILE *f)
{
    metrics_family(f, "elves_http_requests_total", "counter",
                   "HTTP requests finished, by route pattern, method and "
                   "status (0: client left before an answer)");
    for (unsigned i = 0; i < METRICS_MAX_SERIES; i++)
        if (atomic_load_explicit(&m.table[i].state, memory_order_acquire) ==
            SLOT_READY)
            write_series(f, &m.table[i]);
    if (get(&m.other.count) > 0) {
        snprintf(m.other.route, sizeof m.other.route, "other");
        snprintf(m.other.method, sizeof m.other.method, "-");
        write_series(f, &m.other);
    }
    metrics_gauge(f, "elves_http_received_bytes_total", "counter",
                  "request body bytes received", (double)get(&m.bytes_in));
    metrics_gauge(f, "elves_http_sent_bytes_total", "counter",
                  "response body bytes sent", (double)get(&m.bytes_out));
    metrics_gauge(f, "elves_http_requests_in_flight", "gauge",
                  "requests being served",
                  (double)atomic_load_explicit(&m.inflight, RLX));
}

static void write_latency(FILE *f)
{
    const char *n = "elves_http_request_duration_seconds";
    metrics_family(f, n, "histogram",
                   "time from request line to the end of the answer");
    uint64_t cum = 0;
    for (size_t b = 0; b < NBUCKETS; b++) {
        cum += get(&m.buckets[b]);
        fprintf(f, "%s_bucket{le=\"%g\"} %llu\n", n, bucket_le[b],
                (unsigned long long)cum);
    }
    cum += get(&m.buckets[NBUCKETS]);
    fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n", n, (unsigned long long)cum);
    fprintf(f, "%s_sum %.6f\n%s_count %llu\n", n,
            (double)get(&m.latency_sum_us) / 1e6, n, (unsigned long long)cum);
}

static void write_store(FILE *f)
{
    metrics_family(f, "elves_dedup_hits_total", "counter",
                   "uploads stored as references: whole files (same sha256) "
                   "and tensors (same fingerprint)");
    fprintf(f, "elves_dedup_hits_total{kind=\"file\"} %llu\n",
            (unsigned long long)get(&m.dedup_file));
    fprintf(f, "elves_dedup_hits_total{kind=\"tensor\"} %llu\n",
            (unsigned long long)get(&m.dedup_tensor));
    uint64_t hit = get(&m.cache_hit), miss = get(&m.cache_miss);
    metrics_family(f, "elves_cache_lookups_total", "counter",
                   "decoded-block cache lookups");
    fprintf(f, "elves_cache_lookups_total{result=\"hit\"} %llu\n",
            (unsigned long long)hit);
    fprintf(f, "elves_cache_lookups_total{result=\"miss\"} %llu\n",
            (unsigned long long)miss);
    metrics_gauge(f, "elves_cache_hit_ratio", "gauge",
                  "decoded-block cache hits / lookups since start (0 if none)",
                  hit + miss ? (double)hit / (double)(hit + miss) : 0.0);
    metrics_family(f, "elves_chunkstore_errors_total", "counter",
                   "chunk store operations that failed");
    const char *ops[] = {"put", "get", "sync", "other"};
    atomic_uint_fast64_t *c[] = {&m.cs_put, &m.cs_get, &m.cs_sync, &m.cs_other};
    for (int i = 0; i < 4; i++)
        fprintf(f, "elves_chunkstore_errors_total{op=\"%s\"} %llu\n", ops[i],
                (unsigned long long)get(c[i]));
}

static void write_workers(FILE *f)
{
    unsigned total = atomic_load_explicit(&m.workers, RLX);
    unsigned busy = atomic_load_explicit(&m.busy, RLX);
    metrics_gauge(f, "elves_workers", "gauge", "compression worker threads",
                  total);
    metrics_gauge(f, "elves_workers_busy", "gauge",
                  "compression workers running a job now", busy);
    metrics_gauge(f, "elves_worker_utilization", "gauge",
                  "busy workers / workers, now (rate of "
                  "elves_worker_busy_seconds_total for an average)",
                  total ? (double)busy / total : 0.0);
    metrics_gauge(f, "elves_worker_busy_seconds_total", "counter",
                  "seconds workers spent on finished jobs",
                  (double)get(&m.busy_us) / 1e6);
}

void metrics_write(FILE *f)
{
    write_requests(f);
    write_latency(f);
    write_store(f);
    write_workers(f);
}
