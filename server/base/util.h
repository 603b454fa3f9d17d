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
/* Parses exactly 2*n lowercase hex digits (what elves_hex writes) into n
 * bytes; 0, or -1 for anything else. */
int es_unhex(uint8_t *out, const char *hex, size_t n);

/* Writes 2*nbytes random hex chars + NUL into out (nbytes <= 64). */
int es_random_hex(char *out, size_t nbytes, es_err *err);

#endif /* ELVESD_UTIL_H */
