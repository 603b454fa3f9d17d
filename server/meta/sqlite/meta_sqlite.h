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

/* The connection under m (NULL if m is not this backend), for the store
 * files whose SQL has not moved behind meta.h yet. */
db *meta_sqlite_db(meta *m);
/* The transaction such a file opened on that connection itself (with
 * db_tx_begin or db_lock), so it can call what already takes a meta_tx. */
meta_tx *meta_sqlite_tx(meta *m);

#endif /* ELVESD_META_SQLITE_H */
