/*
 * metrics.h - elvesd's counters for GET /metrics (Prometheus text format,
 * version 0.0.4).
 *
 * The HTTP layer and the store call the metrics_* hooks below on their hot
 * paths; every hook is a few relaxed atomic operations (no lock, no
 * allocation), safe from any thread.  Counters are process-wide and start
 * at zero.  metrics_write renders them; gauges that live in the database
 * (jobs, stored bytes) are added by the /metrics route (routes_ops.c) with
 * metrics_gauge / metrics_family.
 */
#ifndef ELVESD_METRICS_H
#define ELVESD_METRICS_H

#include <stdint.h>
#include <stdio.h>

/* Distinct (route, method, status) series kept; later ones are counted
 * under route="other". */
#define METRICS_MAX_SERIES 256

/* One finished request.  route: the matched route's pattern (a string that
 * lives as long as the process) or NULL when nothing matched; method: its
 * name; status 0 when the client went away before an answer. */
void metrics_http_request(const char *route, const char *method,
                          unsigned status, uint64_t bytes_in,
                          uint64_t bytes_out, double seconds);

/* Requests being served now (in flight). */
void metrics_http_inflight(int delta);

/* Store hooks. */
void metrics_dedup_file(void);        /* a whole file stored as a twin */
void metrics_dedup_tensor(void);      /* a tensor reused from the store */
void metrics_cache_lookup(int hit);   /* decoded-block cache */
void metrics_chunkstore_error(const char *op); /* "put", "get", "sync" */
void metrics_workers_total(unsigned n);
void metrics_worker_busy(int delta); /* +1 when a job starts, -1 at its end */

/* Writes every counter above as Prometheus text (HELP, TYPE, samples). */
void metrics_write(FILE *f);

/* Helpers for more families: "# HELP"/"# TYPE" lines, then one sample. */
void metrics_family(FILE *f, const char *name, const char *type,
                    const char *help);
void metrics_gauge(FILE *f, const char *name, const char *type,
                   const char *help, double value);

/* Escapes a label value (\\, \", \n) into out (always NUL-terminated). */
void metrics_label_escape(char *out, size_t cap, const char *s);

/* Forgets everything (tests). */
void metrics_reset(void);

#endif /* ELVESD_METRICS_H */
