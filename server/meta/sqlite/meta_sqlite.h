/*
 * meta_sqlite.h - the SQLite backend of meta.h (meta_sqlite.c) over the
 * connection of db.h.
 */
#ifndef ELVESD_META_SQLITE_H
#define ELVESD_META_SQLITE_H

#include "db.h"
#include "meta.h"

/* Opens (creating) the database file at path; see db_open. */
int meta_sqlite_open(meta **out, const char *path, es_err *err);

#endif /* ELVESD_META_SQLITE_H */
