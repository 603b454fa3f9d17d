/*
 * util.h - small helpers every layer uses: the clock and random
 * identifiers.
 */
#ifndef ELVESD_UTIL_H
#define ELVESD_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Unix seconds. */
int64_t es_now(void);
/* Writes 2*nbytes random hex chars + NUL into out (nbytes <= 64). */
int es_random_hex(char *out, size_t nbytes, es_err *err);

#endif /* ELVESD_UTIL_H */
