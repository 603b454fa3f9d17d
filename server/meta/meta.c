/*
 * meta.c - choosing a metadata backend by configuration.
 */
#include "meta.h"

#include <string.h>

#include "meta_pg.h"
#include "meta_sqlite.h"

int meta_open(meta **out, const meta_config *cfg, es_err *err)
{
    const char *backend = cfg->backend ? cfg->backend : "sqlite";
    int rc;
    if (strcmp(backend, "sqlite") == 0)
        rc = meta_sqlite_open(out, cfg->path, err);
    else if (strcmp(backend, "postgres") == 0)
        rc = meta_pg_open(out, cfg->url, err);
    else
        return es_errf(err, 400, "unknown metadata backend '%s'", backend);
    if (rc < 0)
        return -1;
    if ((*out)->ops->version != META_OPS_VERSION) {
        unsigned v = (*out)->ops->version;
        meta_close(*out);
        return es_errf(err, 500,
                       "metadata backend '%s' has interface version %u, not %u",
                       backend, v, META_OPS_VERSION);
    }
    return 0;
}
