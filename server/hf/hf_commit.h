/*
 * hf_commit.h - the body of a Hugging Face commit (POST
 * /api/{models,datasets}/{repo}/commit/{rev}) as pure functions: splitting
 * the NDJSON stream into lines, and one line into what it asks for.  No
 * request, no store: routes_hf_upload.c acts on what these return, and
 * tests/fuzz/fuzz_commit.c feeds them anything.
 *
 * A line is {"key": K, "value": {...}} with K one of "header" (summary,
 * description, parentCommit), "file" (path, content in base64, encoding
 * "base64" or absent), "lfsFile" (path, oid = lowercase sha256 hex, size; a copy of a file
 * already in the repo comes without size, as huggingface_hub sends it),
 * "deletedFile" or "deletedFolder" (path).  Blank lines (and a lone "\r")
 * are skipped.
 */
#ifndef ELVESD_HF_COMMIT_H
#define ELVESD_HF_COMMIT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define HF_COMMIT_LINE_MAX (24u << 20) /* one line (base64 content) */

/* Whether s is 64 lowercase hex digits. */
int hf_is_sha256_hex(const char *s);

typedef enum hf_line_kind {
    HF_LINE_BLANK = 0,
    HF_LINE_HEADER,
    HF_LINE_FILE,
    HF_LINE_LFS,
    HF_LINE_DELETE_FILE,
    HF_LINE_DELETE_FOLDER
} hf_line_kind;

/* One parsed line; strings point into it and live until hf_line_free. */
typedef struct hf_line {
    hf_line_kind kind;
    const char *path;    /* every kind but HEADER and BLANK */
    const char *summary; /* HEADER; each may be NULL */
    const char *description;
    const char *parent;
    uint8_t *content; /* FILE: the decoded bytes */
    size_t content_len;
    char oid[65];  /* LFS */
    uint64_t size; /* LFS */
    int has_size;  /* LFS: 0 for a copy, which names the object by oid */
    void *json;    /* the parsed line */
} hf_line;

/* Parses one line (without its '\n').  Returns 0 and fills *out (free it
 * with hf_line_free even then), or -1 with err: 400 and the problem. */
int hf_line_parse(const char *line, size_t len, hf_line *out, es_err *err);
void hf_line_free(hf_line *l);

/* Cuts a stream into lines, at most HF_COMMIT_LINE_MAX bytes each. */
typedef struct hf_ndjson {
    char *buf;
    size_t len, cap;
} hf_ndjson;

/* Appends data and calls fn for every complete line (fn returning
 * non-zero stops, and is returned).  A line over the limit: -1 and err
 * (413); out of memory: -1 and err (500). */
int hf_ndjson_feed(hf_ndjson *nj, const char *data, size_t len,
                   int (*fn)(void *ctx, const char *line, size_t len),
                   void *ctx, es_err *err);
/* Calls fn for what is left after the last '\n' (clients may send no
 * final newline), then empties nj. */
int hf_ndjson_finish(hf_ndjson *nj,
                     int (*fn)(void *ctx, const char *line, size_t len),
                     void *ctx);
void hf_ndjson_free(hf_ndjson *nj);

#endif /* ELVESD_HF_COMMIT_H */
