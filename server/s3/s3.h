/*
 * s3.h - a small S3 client: the calls the S3 chunk store needs, signed
 * with SigV4, retried when the service is busy or away, and the parser of
 * the s3:// URL that names a bucket (s3_url.c).
 *
 * Signing: libcurl's CURLOPT_AWS_SIGV4 ("aws:amz:REGION:s3") with the key
 * and secret; libcurl 7.88 does not send x-amz-content-sha256, so every
 * request carries it with the hex SHA-256 of its real body (the empty
 * string's for GET, HEAD and DELETE) and libcurl signs it.  Ceph RGW
 * checks both the signature and the payload hash.
 *
 * Retries: a request is tried up to s3_config.tries times (default 4) when
 * the answer is 5xx or 429 or libcurl could not get one (refused, reset,
 * timed out), sleeping base * 2^n ms with +-50 % jitter between tries
 * (base: s3_config.backoff_ms, default 100).  Other 4xx are never
 * retried.
 *
 * Errors (es_err, err.h): 503 when the service stays unreachable or keeps
 * answering 5xx/429; 404 for NoSuchKey/NoSuchBucket/NoSuchUpload (the S3
 * error Code is in the message); 403 when S3 refuses the credentials
 * (SignatureDoesNotMatch, InvalidAccessKeyId, AccessDenied); 500 for any
 * other answer the client did not expect (a bad ETag, a short range, XML
 * it cannot read, another 4xx).
 *
 * Thread-safety: one s3_client may be used from any number of threads at
 * once; each call borrows a libcurl handle from the client's pool, so
 * connections are kept alive and reused between calls.
 */
#ifndef ELVESD_S3_H
#define ELVESD_S3_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Where a bucket is and how to reach it.  Strings are owned (s3_url_parse
 * and s3_config_set allocate them; s3_config_free frees them). */
typedef struct s3_config {
    char *endpoint;   /* "http://127.0.0.1:7480" (no trailing '/') */
    char *region;     /* "us-east-1" unless said */
    char *bucket;
    char *prefix;     /* key prefix without leading/trailing '/'; "" = none */
    int path_style;   /* 1: ENDPOINT/BUCKET/KEY; 0: BUCKET.HOST/KEY */
    char *access_key;
    char *secret_key;
    unsigned tries;            /* per request; 0 = 4 */
    unsigned backoff_ms;       /* first retry delay; 0 = 100 */
    long connect_timeout_ms;   /* 0 = 5000 */
    long timeout_ms;           /* whole request; 0 = 120000 */
} s3_config;

/* Parses "s3://BUCKET[/PREFIX][?endpoint=URL&region=R&path_style=0|1]"
 * into *out (zeroed first; the keys are not set: s3_config_set_keys).
 * Query values are percent-decoded.  Without endpoint the AWS one of the
 * region is used (https://s3.REGION.amazonaws.com); path_style defaults to
 * 1 when an endpoint is given, 0 otherwise.  400 with the reason for a URL
 * that is not one (scheme, bucket name, prefix characters or length over
 * 512, an unknown or
 * repeated parameter, an endpoint that is not http(s)://host[:port]). */
int s3_url_parse(s3_config *out, const char *url, es_err *err);

/* Copies the credentials into cfg.  500 out of memory. */
int s3_config_set_keys(s3_config *cfg, const char *access_key,
                       const char *secret_key, es_err *err);

/* Frees the strings of cfg and zeroes it. */
void s3_config_free(s3_config *cfg);

/* The URL of key (NULL: the bucket) as the client addresses it, into buf.
 * Returns the length, or -1 if cap is too small. */
int s3_object_url(const s3_config *cfg, const char *key, char *buf,
                  size_t cap);

typedef struct s3_client s3_client;

/* A client for cfg (copied).  400 without keys, 500 out of memory. */
int s3_client_new(s3_client **out, const s3_config *cfg, es_err *err);
void s3_client_free(s3_client *c);

/* HEAD of the bucket: 0 if it exists and the credentials are accepted.
 * A refusal (HEAD answers have no body) is asked again as a one-key list so
 * the message can name the S3 error Code. */
int s3_head_bucket(s3_client *c, es_err *err);

/* PUT of a whole object with Content-MD5; the ETag answered must be the
 * MD5 of data. */
int s3_put_object(s3_client *c, const char *key, const void *data,
                  size_t len, es_err *err);

/* Bytes [off, off+len) of key into buf (Range: bytes=off-(off+len-1));
 * anything but exactly len bytes is an error (500).  len > 0. */
int s3_get_range(s3_client *c, const char *key, uint64_t off, size_t len,
                 void *buf, es_err *err);

/* One object of a listing; key points into the client's buffer and is
 * valid only during the callback. */
typedef struct s3_object {
    const char *key;
    uint64_t size;
    int64_t mtime; /* LastModified, unix seconds (0 if not understood) */
} s3_object;

/* ListObjectsV2 of the keys under prefix, in key order, following
 * continuation tokens; fn returning non-zero stops the walk with that
 * value. */
int s3_list(s3_client *c, const char *prefix,
            int (*fn)(void *ctx, const s3_object *o), void *ctx,
            es_err *err);

/* DeleteObject; deleting a key that is not there is no error (S3 answers
 * 204 either way). */
int s3_delete_object(s3_client *c, const char *key, es_err *err);

/* ---- multipart uploads ------------------------------------------------------
 * Parts are numbered from 1; all but the last must be at least 5 MiB
 * (S3_PART_MIN). */
#define S3_PART_MIN ((size_t)5 << 20)
#define S3_ETAG_MAX 80

typedef struct s3_part {
    int number;
    char etag[S3_ETAG_MAX]; /* as answered, quotes included */
} s3_part;

/* CreateMultipartUpload: *upload_id (malloc'd) names the upload. */
int s3_multipart_create(s3_client *c, const char *key, char **upload_id,
                        es_err *err);

/* UploadPart: out->etag receives the part's ETag, checked against the MD5
 * of data (500 if it differs). */
int s3_multipart_upload_part(s3_client *c, const char *key,
                             const char *upload_id, int number,
                             const void *data, size_t len, s3_part *out,
                             es_err *err);

/* CompleteMultipartUpload of parts[0..n) (in number order).  The ETag
 * answered must be the multipart one these parts make
 * ("MD5(md5_1..md5_n)-n"), else 500. */
int s3_multipart_complete(s3_client *c, const char *key,
                          const char *upload_id, const s3_part *parts,
                          size_t n, es_err *err);

/* AbortMultipartUpload; an upload already gone is no error. */
int s3_multipart_abort(s3_client *c, const char *key, const char *upload_id,
                       es_err *err);

/* One multipart upload in progress; the strings point into the client's
 * buffer and are valid only during the callback. */
typedef struct s3_upload {
    const char *key;
    const char *upload_id;
} s3_upload;

/* ListMultipartUploads of the keys under prefix (uploads created and
 * neither completed nor aborted), following the key and upload-id
 * markers; fn returning non-zero stops the walk with that value. */
int s3_multipart_list(s3_client *c, const char *prefix,
                      int (*fn)(void *ctx, const s3_upload *u), void *ctx,
                      es_err *err);

#endif /* ELVESD_S3_H */
