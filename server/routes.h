/*
 * routes.h - the route tables of elvesd, one per API family.  main.c hands
 * them to http_start in the order below (first match wins).
 */
#ifndef ELVESD_ROUTES_H
#define ELVESD_ROUTES_H

#include "http.h"

/* /healthz and the native API under /api/v1 (routes_native.c). */
extern const http_route routes_native[];

/* /readyz and /metrics (routes_ops.c). */
extern const http_route routes_ops[];

/* The Hugging Face Hub API: downloads, info, tree, paths-info, repo
 * creation (routes_hf.c) and uploads: preupload, LFS, commit
 * (routes_hf_upload.c). */
extern const http_route routes_hf[];
extern const http_route routes_hf_upload[];

#endif /* ELVESD_ROUTES_H */
