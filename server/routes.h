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

#endif /* ELVESD_ROUTES_H */
