/*
 * chunkstore.c - choosing a chunk store backend by configuration.
 */
#include "chunkstore.h"

#include <string.h>

int chunkstore_open(chunkstore *out, const chunkstore_config *cfg,
                    es_err *err)
{
    const char *backend = cfg->backend ? cfg->backend : "fs";
    int rc;
    if (strcmp(backend, "fs") == 0)
        rc = chunkstore_fs_open(out, cfg->dir, cfg->pack_max, err);
    else
        return es_errf(err, 400, "unknown chunk store backend '%s'", backend);
    if (rc < 0)
        return -1;
    if (out->ops->version != CHUNKSTORE_OPS_VERSION) {
        chunkstore_close(out);
        return es_errf(err, 500, "chunk store '%s' has interface version %u, "
                       "not %u", backend, out->ops->version,
                       CHUNKSTORE_OPS_VERSION);
    }
    return 0;
}
