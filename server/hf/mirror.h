/*
 * mirror.h - elvesd as a pull-through mirror of an upstream hub
 * (--upstream URL, e.g. https://huggingface.co): repositories elvesd does
 * not hold are looked up on the upstream with libcurl; their listings are
 * remembered per commit and their files fetched on first download, streamed
 * to the client while they are spooled, then compressed like any upload.
 * Later requests are served locally, also when the upstream is down.
 *
 * Revisions: a commit id is resolved once, forever; a branch or tag name is
 * re-resolved at most every --upstream-ttl seconds, and when the upstream
 * cannot be reached the last resolution is used.  Errors: the upstream's
 * 401/403/404 pass through with their X-Error-Code; an unreachable upstream
 * with nothing cached is 504 (so clients fall back to their own cache).
 * Xet: nothing Xet-related is forwarded (listings are rebuilt from the
 * upstream tree without xetHash; no upstream header is copied).
 *
 * Access: the mirror reads the upstream with --upstream-token; what that
 * token can read, every client of the mirror can read.
 */
#ifndef ELVESD_MIRROR_H
#define ELVESD_MIRROR_H

#include "http.h"
#include "store_hf.h"

/* Call once at start-up, before threads (url "" = no mirror). */
int mirror_init(const char *url, const char *token, unsigned ttl_s,
                char *err, size_t errlen);
void mirror_shutdown(void);
int mirror_enabled(void);

/* Repo r (type, name: filled here), revision rev (NULL = main) and its
 * listing, from what is remembered or from the upstream.  Answers the
 * error itself and returns -1. */
int mirror_snapshot(http_req *req, const char *type, const char *name,
                    const char *rev, hf_repo *r, hf_rev *out,
                    hf_file_list *files);

/* GET/HEAD of file f of a mirrored snapshot: from the store if fetched,
 * else from the upstream (a whole GET is cached on the way). */
void mirror_download(http_req *req, const hf_repo *r, const hf_rev *rev,
                     const hf_file *f);

#endif /* ELVESD_MIRROR_H */
