/*
 * meta_pg.h - the PostgreSQL backend of meta.h (libpq), for elvesd
 * processes that share one database.
 */
#ifndef ELVESD_META_PG_H
#define ELVESD_META_PG_H

#include "meta.h"

/* Connects to url (a libpq URI or connection string; connect_timeout 5 s
 * unless it sets one) and applies the migrations the database lacks, one
 * process at a time.  503 if the database cannot be reached. */
int meta_pg_open(meta **out, const char *url, es_err *err);

#endif /* ELVESD_META_PG_H */
