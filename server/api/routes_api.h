/*
 * routes_api.h - the route tables of the native API.  main.c hands them to
 * http_start before the Hugging Face ones (hf/hf.h); first match wins.
 */
#ifndef ELVESD_ROUTES_API_H
#define ELVESD_ROUTES_API_H

#include "http.h"

/* /healthz and the native API under /api/v1 (routes_native.c). */
extern const http_route routes_native[];

/* /readyz and /metrics (routes_ops.c). */
extern const http_route routes_ops[];

#endif /* ELVESD_ROUTES_API_H */
