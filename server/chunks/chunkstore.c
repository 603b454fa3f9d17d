/*
 * chunkstore.c - choosing a chunk store backend by configuration: the
 * local packs (chunkstore_fs.c) or packs in an S3 bucket (chunkstore_s3.c).
 */
#include "chunkstore.h"

#include <string.h>

#include "s3.h"

static int open_s3(chunkstore *out, const chunkstore_config *cfg, es_err *err)
{
    s3_config s3;
    if (s3_url_parse(&s3, cfg->s3_url, err) < 0)
        return -1;
    int rc = s3_config_set_keys(&s3, cfg->s3_access_key, cfg->s3_secret_key,
                                err);
    if (rc == 0)
        rc = chunkstore_s3_open(out, &s3, cfg->pack_max, cfg->part_size, err);
    s3_config_free(&s3);
    return rc;
}

int chunkstore_open(chunkstore *out, const chunkstore_config *cfg,
                    es_err *err)
{
    const char *backend = cfg->backend ? cfg->backend : "fs";
    int rc;
    if (strcmp(backend, "fs") == 0)
        rc = chunkstore_fs_open(out, cfg->dir, cfg->pack_max, err);
    else if (strcmp(backend, "s3") == 0)
        rc = open_s3(out, cfg, err);
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
