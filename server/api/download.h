/*
 * download.h - serving one file version over HTTP, shared by every API
 * family that hands out file bytes (the native API, the Hugging Face
 * resolve route).
 *
 * Does the whole GET/HEAD answer: ETag ("sha256", quoted), Last-Modified,
 * Accept-Ranges, X-Repo-Commit; If-None-Match / If-Modified-Since -> 304;
 * Range (through If-Range) -> 206 with Content-Range, several ranges ->
 * multipart/byteranges, unsatisfiable -> 416; the body streamed through a
 * store_reader in pieces of DOWNLOAD_BLOCK bytes, so memory per download is
 * bounded whatever the file size.
 */
#ifndef ELVESD_DOWNLOAD_H
#define ELVESD_DOWNLOAD_H

#include "http.h"
#include "store.h"

/* Size of the buffer libmicrohttpd fills from the reader per call.  64 KiB
 * served a 2 GB file at the same CPU per GB as 256 KiB (mean of 8
 * interleaved runs each; 32 KiB too, in fewer runs). */
#define DOWNLOAD_BLOCK (256 * 1024)

/* Adds route-specific headers to every answer download_serve makes (200,
 * 206, 304, 416).  May be NULL. */
typedef void (*download_headers_fn)(struct MHD_Response *r, void *ctx);

/* Answers req (a GET or HEAD) with file f of store st. */
void download_serve(http_req *req, es_store *st, const store_file *f,
                    download_headers_fn extra, void *ctx);

#endif /* ELVESD_DOWNLOAD_H */
