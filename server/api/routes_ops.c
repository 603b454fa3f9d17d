/*
 * routes_ops.c - routes for operators and orchestrators: GET /readyz
 * (200 when the store can take work, else 503 with the failing check) and
 * GET /metrics (Prometheus text).  /healthz, "the process answers", is in
 * routes_native.c.
 */
#include <stdio.h>
#include <stdlib.h>

#include "http.h"
#include "metrics.h"
#include "routes_api.h"
#include "store.h"

static void h_readyz(http_req *req)
{
    json_t *out = NULL;
    es_err e = {0};
    int ready = store_ready(http_app(req), &out, &e);
    if (ready < 0) {
        http_respond_error(req, 503, "%s", e.msg);
        return;
    }
    http_respond_json(req, ready ? 200 : 503, out);
}

static double num(json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

/* Figures that live in the database: stored bytes and jobs. */
static void write_store_gauges(FILE *f, es_store *st)
{
    json_t *s = NULL;
    es_err e = {0};
    if (store_stats(st, NULL, &s, &e) == 0) {
        metrics_gauge(f, "elves_logical_bytes", "gauge",
                      "bytes the heads list (what can be downloaded)",
                      num(s, "logical_bytes"));
        metrics_gauge(f, "elves_stored_bytes", "gauge",
                      "live chunk bytes plus spool files not yet compressed",
                      num(s, "stored_bytes"));
        metrics_gauge(f, "elves_chunk_bytes", "gauge",
                      "live encoded chunk bytes", num(s, "chunk_bytes"));
        metrics_gauge(f, "elves_spool_bytes", "gauge",
                      "uploaded bytes waiting for compression",
                      num(s, "spool_bytes"));
        metrics_gauge(f, "elves_pack_bytes", "gauge",
                      "pack files on disk, garbage not yet compacted included",
                      num(s, "pack_bytes"));
        metrics_gauge(f, "elves_dedup_saved_bytes", "gauge",
                      "encoded bytes saved by file and tensor dedup",
                      num(s, "dedup_saved_bytes"));
        metrics_gauge(f, "elves_files", "gauge", "file versions listed",
                      num(s, "files"));
    }
    json_decref(s);
    store_job_counts jc;
    if (store_jobs_count(st, &jc, &e) == 0) {
        metrics_family(f, "elves_jobs", "gauge",
                       "compression jobs by state (rows of the job table)");
        fprintf(f, "elves_jobs{state=\"queued\"} %lld\n", (long long)jc.queued);
        fprintf(f, "elves_jobs{state=\"running\"} %lld\n",
                (long long)jc.running);
        fprintf(f, "elves_jobs{state=\"done\"} %lld\n", (long long)jc.done);
        fprintf(f, "elves_jobs{state=\"failed\"} %lld\n", (long long)jc.failed);
    }
    metrics_gauge(f, "elves_store_up", "gauge",
                  "1 if the database answered this scrape",
                  e.status == 0 ? 1 : 0);
}

static void h_metrics(http_req *req)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL) {
        http_respond_error(req, 500, "out of memory");
        return;
    }
    metrics_write(f);
    write_store_gauges(f, http_app(req));
    if (fclose(f) != 0 || text == NULL) {
        free(text);
        http_respond_error(req, 500, "out of memory");
        return;
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(text);
        http_respond_error(req, 500, "out of memory");
        return;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (!http_is_head(req))
        http_count_bytes(req, len);
    http_respond(req, 200, r);
}

const http_route routes_ops[] = {
    {HTTP_GET, "/readyz", h_readyz, NULL},
    {HTTP_GET, "/metrics", h_metrics, NULL},
    {0, NULL, NULL, NULL},
};
