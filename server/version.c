/*
 * version.c - the server's version string, kept apart so the server library
 * always has at least one object.
 */
#include "elves.h"

const char *elvesd_version(void)
{
    return ELVES_VERSION_STRING;
}
